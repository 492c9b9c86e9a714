//! A valid component for a world that is not tanto's: loading it must fail with an error
//! that says so.

wit_bindgen::generate!({
    inline: "
        package other:plugin;

        world plugin {
            import log: func(message: string);
            export run: func() -> string;
        }
    ",
});

struct Plugin;

impl Guest for Plugin {
    fn run() -> String {
        log("running");
        "not a tanto module".to_string()
    }
}

export!(Plugin);
