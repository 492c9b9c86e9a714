//! A module that panics.

use tanto_sdk::Result;

#[derive(Default)]
struct Panicker;

/// Panics.
#[tanto_sdk::module]
impl Panicker {
    /// Panics with a recognisable message.
    pub fn boom(&self) -> Result<String> {
        println!("about to fail");
        panic!("the module panicked on purpose");
    }
}
