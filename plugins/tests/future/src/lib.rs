//! A plugin for a WIT version this host does not speak (0.3.0).

wit_bindgen::generate!({ path: "wit", world: "plugin" });

struct Future;

impl exports::chute::provider::provider::Guest for Future {
    fn describe() -> String {
        "from the future".into()
    }
}

export!(Future);
