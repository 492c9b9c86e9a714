use tanto_sdk::Result;

#[derive(Default)]
struct Module;

#[tanto_sdk::module]
impl Module {
    pub fn size(&self) -> usize {
        0
    }

    pub fn pair(&self) -> Result<(String, String)> {
        Ok((String::new(), String::new()))
    }

    pub fn maybe_nothing(&self) -> Option<()> {
        None
    }
}

fn main() {}
