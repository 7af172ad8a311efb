//! Logging through the host (`usersync:rules/host.log`): lines are attributed to the module
//! and capped per decision by the host, so a module cannot flood the log.
//!
//! ```
//! use usersync_rules::log;
//! log::info!("mapping {} groups", 3);
//! log::write(usersync_rules::LogLevel::Warn, "no department");
//! ```
//!
//! Off wasm32 (native tests, benchmarks) the lines go nowhere.

use crate::LogLevel;

/// Writes one line to the host's log.
pub fn write(level: LogLevel, message: &str) {
    #[cfg(target_arch = "wasm32")]
    crate::bindings::usersync::rules::host::log(level, message);
    #[cfg(not(target_arch = "wasm32"))]
    let _ = (level, message);
}

#[doc(hidden)]
#[macro_export]
macro_rules! __usersync_log {
    ($level:ident, $($arg:tt)+) => {
        $crate::log::write($crate::LogLevel::$level, &::std::format!($($arg)+))
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __usersync_log_debug {
    ($($arg:tt)+) => { $crate::__usersync_log!(Debug, $($arg)+) };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __usersync_log_info {
    ($($arg:tt)+) => { $crate::__usersync_log!(Info, $($arg)+) };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __usersync_log_warn {
    ($($arg:tt)+) => { $crate::__usersync_log!(Warn, $($arg)+) };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __usersync_log_error {
    ($($arg:tt)+) => { $crate::__usersync_log!(Error, $($arg)+) };
}

/// Logs at debug level, with `format!` arguments: `log::debug!("x = {x}")`.
pub use crate::__usersync_log_debug as debug;
/// Logs at error level, with `format!` arguments: `log::error!("cannot map {id}")`.
pub use crate::__usersync_log_error as error;
/// Logs at info level, with `format!` arguments: `log::info!("mapped {name}")`.
pub use crate::__usersync_log_info as info;
/// Logs at warning level, with `format!` arguments: `log::warn!("no e-mail for {id}")`.
pub use crate::__usersync_log_warn as warn;
