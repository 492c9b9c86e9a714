//! The one `bindgen!` over `wit/`. Generated types stay inside `runtime`: the rest of
//! the host speaks [`crate::engine`] objects and [`super::values`].

wasmtime::component::bindgen!({
    path: "../wit/0.1.0",
    world: "tanto:core/module",
    imports: { default: async | trappable },
    exports: { default: async },
    with: {
        "tanto:core/types.container": crate::engine::Container,
        "tanto:core/types.directory": crate::engine::Directory,
        "tanto:core/types.file": crate::engine::File,
        "tanto:core/types.cache-volume": crate::engine::CacheVolume,
    },
});
