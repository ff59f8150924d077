//! `WWW-Authenticate` parsing never panics, and what it returns is well-formed: schemes and
//! parameter names are non-empty, lower-case tokens.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for challenge in jsonrpc_forward::auth::challenge::parse(text) {
        assert!(!challenge.scheme.is_empty());
        assert_eq!(challenge.scheme, challenge.scheme.to_ascii_lowercase());
        for (name, _) in &challenge.params {
            assert!(!name.is_empty());
            assert_eq!(*name, name.to_ascii_lowercase());
        }
    }
});
