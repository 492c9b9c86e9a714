#[derive(Default)]
struct Module;

#[tanto_sdk::module]
impl Module {
    pub fn generic<T: Into<String>>(&self, name: T) -> String {
        name.into()
    }

    pub fn implicit(&self, name: impl Into<String>) -> String {
        name.into()
    }

    pub async fn later(&self) -> String {
        String::new()
    }

    pub fn unnamed(&self, _: String, (first, second): (String, String)) -> String {
        first + &second
    }

    pub fn build_image(&self) {}

    pub fn build__image(&self) {}

    fn helper(&self, #[arg(description = "not exported")] name: String) -> String {
        name
    }
}

fn main() {}
