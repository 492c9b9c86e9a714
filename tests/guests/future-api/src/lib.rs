//! A component built against a version of the tanto API that no tanto serves yet
//! (`tanto:core@0.9.0`): loading it must fail with an error that names the versions this
//! tanto serves, and a hint.

wit_bindgen::generate!({
    inline: "
        package tanto:core@0.9.0;

        interface guest {
            describe: func() -> string;
        }

        world module {
            export guest;
        }
    ",
});

struct Future;

impl exports::tanto::core::guest::Guest for Future {
    fn describe() -> String {
        "from the future".to_string()
    }
}

export!(Future);
