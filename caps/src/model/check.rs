//! The checks that run after every step of a sequence: counts, every issued
//! ref, every parent link, rights along derivations, and the real system's
//! own structural invariants. Kept apart from the interpreter so the list of
//! properties reads in one place.

use alloc::format;
use alloc::string::String;

use super::harness::{Harness, agree};
use crate::{CapError, Rights};

impl Harness {
    /// Every invariant, after every step.
    pub fn check(&self) -> Result<(), String> {
        self.system.check_invariants()?;
        let usage = self.system.usage();
        agree(
            "live CSpaces",
            &(usage.cspaces as usize),
            &self.model.live_spaces(),
        )?;
        agree(
            "live objects",
            &(usage.objects as usize),
            &self.model.live_objects(),
        )?;
        agree("live caps", &(usage.caps as usize), &self.model.live_caps())?;
        // Every ref ever issued resolves exactly as the model says: stale
        // ones fail, live ones give the model's capability.
        for &(space, at) in &self.model.issued {
            let expected = self
                .model
                .resolve(space, at)
                .and_then(|index| self.expected_cap(index).ok_or(CapError::InvalidRef));
            let real = self
                .system
                .lookup(self.space_id(space), at, Rights::empty());
            agree("issued ref lookup", &real, &expected)?;
        }
        for (index, cap) in self.model.caps.iter().enumerate() {
            if !cap.alive {
                continue;
            }
            let model_parent = self.model.parent(index);
            let expected = model_parent
                .and_then(|p| self.model.cap(p))
                .map(|p| (self.space_id(p.space), p.at));
            let real = self.system.parent(self.space_id(cap.space), cap.at);
            agree("parent", &real, &Ok(expected))?;
            // Rights never grow along a derivation.
            if let Some(parent) = model_parent.and_then(|p| self.model.cap(p))
                && !parent.rights.contains(cap.rights)
            {
                return Err(format!("cap {index} has more rights than its parent"));
            }
        }
        Ok(())
    }
}
