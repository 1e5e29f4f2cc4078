//! Defines cassachange's own tables (`change_history`, `deploy_lock`), what their rows
//! mean, and the few database operations on them (behind [`store`]'s traits).

pub mod lock;
pub mod state;
pub mod store;
pub mod table;
