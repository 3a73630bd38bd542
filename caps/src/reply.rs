//! One-shot reply capabilities.
//!
//! A `call` gives the callee a capability to a fresh Reply object. Replying
//! consumes it: `take_reply` checks and deletes the capability and forgets
//! the object in one step, so a second reply through the same ref fails with
//! `InvalidRef`. A Reply is never created with DERIVE, and rights only
//! shrink, so there is never a second capability to the same Reply.

use crate::cap_ref::CapRef;
use crate::cspace::CSpaceId;
use crate::error::CapError;
use crate::object::{Object, ObjectId, TaskId};
use crate::rights::Rights;
use crate::system::{CapSystem, require};

/// Where a consumed reply goes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ReplyTarget {
    /// The Reply object, now forgotten.
    pub object: ObjectId,
    /// The task whose `call` this answers.
    pub caller: TaskId,
}

impl CapSystem {
    /// Consumes the Reply capability `cap`: on success the capability is
    /// deleted, its ref is stale and the Reply object is forgotten (together
    /// with any other capability to it), and the kernel delivers the answer
    /// to the returned caller.
    ///
    /// Errors, in order: `InvalidCSpace`; `InvalidRef`; `WrongKind` if `cap`
    /// does not name a Reply; `MissingRights` if it lacks WRITE.
    pub fn take_reply(&mut self, cspace: CSpaceId, cap: CapRef) -> Result<ReplyTarget, CapError> {
        let (found, object) = self.lookup_object(cspace, cap, Rights::empty())?;
        let Object::Reply { caller } = object else {
            return Err(CapError::WrongKind {
                found: object.kind(),
            });
        };
        require(found.rights, Rights::WRITE)?;
        self.destroy(found.object)?;
        Ok(ReplyTarget {
            object: found.object,
            caller,
        })
    }
}
