//! The step names of a sign-up, shared by the use case that runs it and the policy that
//! undoes it once Identity announces it unfinished: each step's request id is
//! [`crate::Ctx::step`] of the sign-up's request id and the name, so the two make the very
//! same commands and whichever comes second replays the first's answer.

/// Registers the user (with the sign-up's window).
pub const REGISTER: &str = "register";
/// Creates the workspace, the user its Owner.
pub const CREATE_WORKSPACE: &str = "create-workspace";
/// Starts the Team trial.
pub const START_TRIAL: &str = "start-trial";
/// Tells Identity the sign-up completed.
pub const COMPLETE: &str = "complete-sign-up";
/// Deletes the workspace of a sign-up that failed.
pub const UNDO_CREATE_WORKSPACE: &str = "undo-create-workspace";
/// Erases the user of a sign-up that failed.
pub const UNDO_REGISTER: &str = "undo-register";
