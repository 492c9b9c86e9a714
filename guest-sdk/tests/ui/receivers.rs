#[derive(Default)]
struct Module {
    calls: i64,
}

#[tanto_sdk::module]
impl Module {
    pub fn count(&mut self) -> i64 {
        self.calls += 1;
        self.calls
    }

    pub fn consume(self) -> i64 {
        self.calls
    }
}

fn main() {}
