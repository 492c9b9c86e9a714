struct Module {
    greeting: String,
}

#[tanto_sdk::module]
impl Module {
    pub fn greet(&self, name: String) -> String {
        format!("{}, {name}", self.greeting)
    }
}

fn main() {}
