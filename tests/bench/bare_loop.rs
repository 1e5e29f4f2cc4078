//! Benchmark helper (not a test): executes every statement of the given `.cql` files in
//! order with the `scylla` driver and nothing else, the floor `deploy` is measured
//! against. Usage: bare_loop <host:port> <keyspace> <file>...

use scylla::client::session_builder::SessionBuilder;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (node, keyspace, files) = (&args[1], &args[2], &args[3..]);
    // The same schema-metadata settings as cassachange uses, so the loop is a fair floor.
    let session = SessionBuilder::new()
        .known_node(node)
        .fetch_full_schema_metadata(false)
        .keyspaces_to_fetch([keyspace.clone()])
        .build()
        .await?;
    session.use_keyspace(keyspace, false).await?;
    for file in files {
        let text = std::fs::read_to_string(file)?;
        for stmt in text.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            let started = std::time::Instant::now();
            session.query_unpaged(stmt, &[]).await?;
            if std::env::var_os("BARE_LOOP_TIMES").is_some() {
                eprintln!("{:.1}", started.elapsed().as_secs_f64() * 1000.0);
            }
        }
    }
    Ok(())
}
