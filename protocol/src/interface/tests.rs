//! A made-up interface with every form, served by a made-up service
//! and driven through `FakeContext`.
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

use super::*;
use crate::Badge;
use crate::testing::{FakeContext, FakeObject};
use crate::{Grants, MAX_PAYLOAD, Outbox, Rights, StateMachine};

#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Get<'a> {
    key: &'a str,
}
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Value<'a> {
    key: &'a str,
    value: u32,
}
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Share;
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Shared {
    len: u64,
}
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Note<'a> {
    text: &'a str,
}
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum StoreError {
    Missing,
}
impl ServiceError for StoreError {}

mod store {
    pub use super::*;
    crate::interface! {
        <'a> error StoreError;
        /// A value by key; `Missing` unless the key is "one".
        0 => fn get(Get<'a>) -> Value<'a>;
        /// A Region, answered by the handler with the capability.
        1 => fn share(Share, answer) -> Shared;
        /// A one-way note.
        2 => fn note(Note<'a>);
    }
}

#[derive(Default)]
struct Store {
    outbox: Outbox,
    notes: Vec<(alloc::string::String, Option<u64>)>,
    region: Option<CapRef>,
    later: Option<Answer<Share>>,
}

impl Outgoing for Store {
    fn outbox(&mut self) -> &mut [u8] {
        self.outbox.space()
    }
}

impl store::Server for Store {
    fn get<'a>(&mut self, _: &mut dyn Context, request: Get<'a>) -> Result<Value<'a>, StoreError> {
        match request.key {
            "one" => Ok(Value {
                key: request.key,
                value: 1,
            }),
            _ => Err(StoreError::Missing),
        }
    }

    fn share(
        &mut self,
        cx: &mut dyn Context,
        _: Share,
        answer: Answer<Share>,
    ) -> Result<(), StoreError> {
        let Some(region) = self.region else {
            // Keep it, to answer later.
            self.later = Some(answer);
            return Ok(());
        };
        let child = cx
            .mint(region, Rights::READ | Rights::GRANT, None)
            .map_err(|_| StoreError::Missing)?;
        answer
            .send(cx, self.outbox.space(), &Shared { len: 4096 }, &[child])
            .map_err(|_| StoreError::Missing)
    }

    fn note(
        &mut self,
        _: &mut dyn Context,
        message: Note<'_>,
        badge: Option<Badge>,
    ) -> Result<(), HandleError> {
        self.notes
            .push((message.text.into(), badge.map(Badge::get)));
        Ok(())
    }
}

impl StateMachine for Store {
    fn name(&self) -> &'static str {
        "store"
    }
    fn start(&mut self, _: &mut dyn Context, grants: Grants<'_>) -> Result<(), HandleError> {
        self.region = grants.get("region");
        Ok(())
    }
    fn handle(&mut self, cx: &mut dyn Context, msg: Incoming<'_>) -> Result<(), HandleError> {
        store::serve(self, cx, &msg)
    }
}

#[test]
fn a_call_is_answered_with_the_handlers_value_or_error() {
    let mut cx = FakeContext::new();
    let mut service = Store::default();
    let (msg, reply) = cx.call_request(&Get { key: "one" });
    cx.deliver(&mut service, &msg).unwrap();
    assert_eq!(
        cx.answer::<Get>(reply),
        Some(Ok(Value {
            key: "one",
            value: 1
        }))
    );

    let (msg, reply) = cx.call_request(&Get { key: "two" });
    cx.deliver(&mut service, &msg).unwrap();
    assert_eq!(
        cx.answer::<Get>(reply),
        Some(Err(CallError::Service(StoreError::Missing)))
    );
}

#[test]
fn requests_are_tagged_with_their_operation() {
    let mut buffer = [0u8; 16];
    assert_eq!(
        encode_request(&Get { key: "a" }, &mut buffer).unwrap(),
        [0, 1, b'a']
    );
    assert_eq!(encode_request(&Share, &mut buffer).unwrap(), [1]);
    // A one-operation interface is untagged: an echo request encodes
    // as the struct alone.
    let echo = crate::echo::Request { seq: 7, data: b"x" };
    assert_eq!(encode_request(&echo, &mut buffer).unwrap(), [7, 1, b'x']);
}

#[test]
fn an_answer_with_capabilities_moves_them() {
    let mut cx = FakeContext::new();
    let mut service = Store::default();
    let region = cx.region_with(b"shared", Rights::all());
    cx.start(
        &mut service,
        &[crate::Grant {
            name: "region",
            cap: region,
        }],
    )
    .unwrap();
    let (msg, reply) = cx.call_request(&Share);
    cx.deliver(&mut service, &msg).unwrap();
    assert_eq!(cx.answer::<Share>(reply), Some(Ok(Shared { len: 4096 })));
    let sent = cx.reply_to(reply).unwrap();
    assert_eq!(sent.caps.len(), 1);
    assert!(matches!(sent.caps[0], FakeObject::Region { .. }));
    assert_eq!(&cx.region_bytes(&sent.caps[0]).unwrap()[..6], b"shared");
}

#[test]
fn an_answer_can_wait_for_later() {
    let mut cx = FakeContext::new();
    let mut service = Store::default();
    let (msg, reply) = cx.call_request(&Share);
    cx.deliver(&mut service, &msg).unwrap();
    assert_eq!(cx.answer::<Share>(reply), None, "not answered yet");
    let answer = service.later.take().unwrap();
    answer
        .fail(&mut cx, service.outbox.space(), StoreError::Missing)
        .unwrap();
    assert_eq!(
        cx.answer::<Share>(reply),
        Some(Err(CallError::Service(StoreError::Missing)))
    );
    // The Reply capability was one-shot.
    assert_eq!(
        answer.fail(&mut cx, service.outbox.space(), StoreError::Missing),
        Err(IpcError::InvalidCap)
    );
}

#[test]
fn one_way_messages_get_their_badge_and_no_answer() {
    let mut cx = FakeContext::new();
    let mut service = Store::default();
    let msg = cx.request(&Note { text: "hi" }).with_badge(3);
    cx.deliver(&mut service, &msg).unwrap();
    assert_eq!(service.notes, [("hi".into(), Some(3))]);
    assert!(cx.replies.is_empty());
}

#[test]
fn bad_payloads_are_malformed_and_the_service_goes_on() {
    let mut cx = FakeContext::new();
    let mut service = Store::default();
    for payload in [&[][..], &[9][..], &[0, 5, b'a'][..], &[0, 1, b'a', 0][..]] {
        let (msg, _) = cx.call_with_payload(payload);
        assert!(
            matches!(
                cx.deliver(&mut service, &msg),
                Err(HandleError::Malformed(_))
            ),
            "{payload:?}"
        );
    }
    let (msg, reply) = cx.call_request(&Get { key: "one" });
    cx.deliver(&mut service, &msg).unwrap();
    assert!(matches!(cx.answer::<Get>(reply), Some(Ok(_))));
}

#[test]
fn non_requests_are_not_served() {
    let mut cx = FakeContext::new();
    let mut service = Store::default();
    cx.deliver(&mut service, &cx.timeout()).unwrap();
    cx.deliver(&mut service, &cx.interrupt(4)).unwrap();
    assert!(cx.replies.is_empty() && service.notes.is_empty());
}

#[test]
fn a_pending_call_matches_only_its_answer() {
    let mut cx = FakeContext::new();
    let store = cx.endpoint("store");
    let mut outbox = [0u8; MAX_PAYLOAD];
    let pending = call(&mut cx, store, &mut outbox, &Get { key: "one" }, &[]).unwrap();
    let other = call(&mut cx, store, &mut outbox, &Get { key: "x" }, &[]).unwrap();
    assert_eq!(cx.calls.len(), 2);
    assert_eq!(cx.calls[0].payload, [0, 3, b'o', b'n', b'e']);

    let answer = cx.answer_call::<Get>(
        pending.token(),
        &Value {
            key: "one",
            value: 1,
        },
    );
    assert_eq!(other.answer(&answer.incoming()), None);
    assert_eq!(
        pending.answer(&answer.incoming()),
        Some(Ok(Value {
            key: "one",
            value: 1
        }))
    );
    let error = cx.answer_call_error::<Get>(other.token(), StoreError::Missing);
    assert_eq!(
        other.answer(&error.incoming()),
        Some(Err(CallError::Service(StoreError::Missing)))
    );
    let died = cx.fail_call(other.token(), CallFailure::PeerDied);
    assert_eq!(
        other.answer(&died.incoming()),
        Some(Err(CallError::Failed(CallFailure::PeerDied)))
    );
    let garbage = cx.answer_call_bytes(pending.token(), &[7]);
    assert!(matches!(
        pending.answer(&garbage.incoming()),
        Some(Err(CallError::Malformed(_)))
    ));
}

#[test]
fn a_never_failing_interface_answers_untagged() {
    let mut buffer = [0u8; 16];
    let reply = crate::echo::Reply { seq: 1, data: b"" };
    assert_eq!(
        encode_answer::<_, Never>(&Ok(reply), &mut buffer).unwrap(),
        [1, 0]
    );
    assert_eq!(
        decode_answer::<crate::echo::Request<'static>>(&[1, 0]),
        Ok(Ok(reply))
    );
}

#[test]
fn fake_context_checks_rights_like_the_kernel() {
    let mut cx = FakeContext::new();
    let region = cx.region_with(b"abc", Rights::READ);
    assert_eq!(cx.region(region).map(|bytes| bytes[0]), Ok(b'a'));
    assert_eq!(
        cx.region_mut(region).map(|_| ()),
        Err(IpcError::MissingRights {
            missing: Rights::WRITE
        })
    );
    assert_eq!(
        cx.mint(region, Rights::READ, None),
        Err(IpcError::MissingRights {
            missing: Rights::DERIVE
        })
    );
    let parent = cx.region_with(b"", Rights::READ | Rights::DERIVE);
    assert_eq!(
        cx.mint(parent, Rights::WRITE, None),
        Err(IpcError::RightsEscalation {
            excess: Rights::WRITE
        })
    );
    let child = cx.mint(parent, Rights::READ, None).unwrap();
    assert_eq!(cx.revoke(parent), Ok(1));
    assert_eq!(cx.region(child).map(|_| ()), Err(IpcError::InvalidCap));
    let stale = CapRef::from_raw(0xdead_0000_0000);
    assert_eq!(cx.drop_cap(stale), Err(IpcError::InvalidCap));
}
