//! Text commands: what the shell's `send <task> <message>` delivers, for
//! services that accept commands typed by a person. A service that takes
//! them answers a [`TextCommand`] call with a [`TextAnswer`]; any other
//! service rejects it as malformed, which the shell reports.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct TextCommand<'a> {
    pub line: &'a str,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct TextAnswer<'a> {
    pub text: &'a str,
}
