//! Defines cassachange's own tables (`change_history`, `deploy_lock`) and what their
//! rows mean.

pub mod lock;
pub mod state;
pub mod table;
