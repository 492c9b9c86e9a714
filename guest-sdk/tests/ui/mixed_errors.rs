// Syntax errors and type errors of one module are reported by one build.

#[derive(Default)]
struct Module;

#[tanto_sdk::module]
impl Module {
    pub fn count(&mut self, #[arg(default = "none")] limit: Option<i64>, ratio: f32) -> u8 {
        let _ = (limit, ratio);
        0
    }

    pub fn list(&self, #[arg(default = GREETING)] greeting: String, pairs: Vec<Vec<String>>) {
        let _ = (greeting, pairs);
    }
}

fn main() {}
