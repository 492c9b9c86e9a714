#[derive(Default)]
struct Module;

trait Greet {
    fn greet(&self) -> String;
}

#[tanto_sdk::module(name = "other")]
impl Greet for Module {
    fn greet(&self) -> String {
        String::new()
    }
}

#[tanto_sdk::module]
fn not_an_impl() {}

fn main() {}
