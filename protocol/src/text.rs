//! Text commands: what the shell's `send <task> <message>` delivers, for
//! services that accept commands typed by a person. A service that takes
//! them implements this interface (`text::Server`) and answers a
//! [`TextCommand`] call with a [`TextAnswer`]; any other service rejects
//! it as malformed, which the shell reports. One operation, so untagged
//! on the wire: a `TextCommand` encodes as the struct alone.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct TextCommand<'a> {
    pub line: &'a str,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct TextAnswer<'a> {
    pub text: &'a str,
}

crate::interface! {
    <'a>
    /// Runs the command `line`; the answer is text for a person. Answered
    /// by the handler, since the text usually borrows the service's own
    /// buffers rather than the request.
    fn command(TextCommand<'a>, answer) -> TextAnswer<'a>;
}
