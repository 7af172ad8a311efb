//! The `usersync` binary: the command line is `usersync::cli`.

/// mimalloc returns freed memory to the OS far better than glibc's per-thread arenas,
/// which kept the transient JSON of every request around as resident memory (and, built
/// without transparent huge pages, keeps the store's resident size close to its heap).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    usersync::cli::run()
}
