use tanto_sdk::Directory;

#[derive(Default)]
struct Module;

#[tanto_sdk::module]
impl Module {
    pub fn text(&self, name: &str) -> String {
        name.to_owned()
    }

    pub fn count(&self, count: u32, source: &Directory) -> i64 {
        let _ = source;
        i64::from(count)
    }

    pub fn nested(&self, words: Vec<Option<String>>, map: std::collections::HashMap<String, String>) {
        let _ = (words, map);
    }
}

fn main() {}
