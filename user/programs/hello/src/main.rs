//! `/bin/hello`: the smallest real program. It logs "hello from ring 3"
//! at start and then answers `echo::Request`s as the echo service does,
//! so a caller can check a ring-3 round trip.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![deny(unsafe_code)]

use mealy_echo::Echo;
use mealy_protocol::{Context, Grants, HandleError, Incoming, StateMachine};

struct Hello {
    echo: Echo,
}

impl StateMachine for Hello {
    fn name(&self) -> &'static str {
        "hello"
    }

    fn start(&mut self, cx: &mut dyn Context, _: Grants<'_>) -> Result<(), HandleError> {
        cx.log(format_args!("hello from ring 3"));
        Ok(())
    }

    fn handle(&mut self, cx: &mut dyn Context, msg: Incoming<'_>) -> Result<(), HandleError> {
        self.echo.handle(cx, msg)
    }
}

mealy_user::program!(Hello { echo: Echo::new() });
