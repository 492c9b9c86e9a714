//! A module that never returns: the CPU budget must stop it.

use tanto_sdk::Result;

#[derive(Default)]
struct Looper;

/// Spins forever.
#[tanto_sdk::module]
impl Looper {
    /// Loops without end, never calling the host.
    pub fn spin(&self) -> Result<i64> {
        let mut counter: i64 = 0;
        loop {
            counter = std::hint::black_box(counter.wrapping_add(1));
            if counter == i64::MIN {
                return Ok(counter);
            }
        }
    }
}
