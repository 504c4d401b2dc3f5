//! What people and other programs see: the progress display, the report's
//! views (table, markdown, CSV, JSON, HTML), logs on stderr, and uploads.

pub(crate) mod html;
pub(crate) mod log;
pub(crate) mod progress;
pub(crate) mod publish;
pub(crate) mod render;
