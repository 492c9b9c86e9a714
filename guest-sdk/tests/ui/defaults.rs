#[derive(Default)]
struct Module;

const GREETING: &str = "hi";

#[tanto_sdk::module]
impl Module {
    pub fn greet(
        &self,
        #[arg(default = "three")] times: i64,
        #[arg(default = "world")] name: Option<String>,
        #[arg(default = GREETING)] greeting: String,
        #[arg(default = 1.5)] count: i64,
        #[arg(desc = "typo")] loud: bool,
    ) -> String {
        let _ = (times, name, greeting, count, loud);
        String::new()
    }
}

fn main() {}
