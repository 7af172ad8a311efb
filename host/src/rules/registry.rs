//! The live module of each app, and hot reload: each app's module file is watched; a change
//! (written in place, or renamed over the file, as editors and `cp`/`mv` save) is loaded
//! off the request path on the registry's own thread (compiled, type-checked, self-tested)
//! and swapped in atomically: at once when the file is complete (closed after writing, or
//! renamed into place), else once its events have been quiet for a moment. A module that fails to load
//! leaves the previous one serving, and the failure is logged and kept in the app's status.
//!
//! Decisions read [`ModuleRegistry::current`] once and keep that `Arc`: a swap never changes
//! the module under a decision in flight.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwapOption;
use notify::event::{AccessKind, AccessMode, ModifyKind, RenameMode};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};

use super::engine::{LoadedModule, RuleLimits, RulesEngine};
use super::error::{RuleFailure, RulesError};
use super::types::{ModuleId, Setting, SettingDeclaration};

/// Quiet time after a file's last change before it is loaded, for events that do not say
/// the file is complete: an editor's save is several events (truncate, write, close; or
/// write a temporary file, rename it over), and only the last one says it is done.
const DEBOUNCE: Duration = Duration::from_millis(100);

/// An app's rules module: where its file is, the limits its decisions run under, and the
/// app's settings (checked against a 2.0.0 module's declaration at each load, and used by
/// its self-test: a module whose declaration refuses them does not replace the serving one).
#[derive(Debug, Clone)]
pub struct AppModule {
    pub app: String,
    pub path: PathBuf,
    pub limits: RuleLimits,
    pub settings: Vec<Setting>,
}

/// An app's module as the registry sees it (for `usersync rules status` and the admin API).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleStatus {
    pub app: String,
    pub path: PathBuf,
    /// The module serving the app; `None` while none has loaded.
    pub module: Option<ModuleId>,
    /// The rules world that module was built against (`"1.0.0"`, `"2.0.0"`).
    pub world: Option<String>,
    /// The settings that module declares; `None` while none has loaded, and for a 1.0.0
    /// module (which cannot declare any).
    pub declaration: Option<Vec<SettingDeclaration>>,
    /// When that module was loaded.
    pub loaded_at: Option<SystemTime>,
    /// Why the latest load failed, when the file has not loaded since (`None` once it does).
    pub last_error: Option<String>,
    /// Modules swapped in after the first.
    pub reloads: u64,
}

/// Each app's live module, kept up to date with its file. Apps are added, changed and
/// removed at run time ([`ModuleRegistry::upsert`], [`ModuleRegistry::remove`]).
pub struct ModuleRegistry {
    shared: Arc<Shared>,
    /// The watcher (dropping it ends the watch, and with it the reload thread) and how many
    /// apps have their module in each watched folder.
    watch: Mutex<Watch>,
}

struct Watch {
    watcher: RecommendedWatcher,
    folders: BTreeMap<PathBuf, usize>,
}

struct Shared {
    engine: Arc<RulesEngine>,
    apps: RwLock<BTreeMap<String, Arc<AppSlot>>>,
    /// Every app's module file as the watcher reports it: the events the reload thread hears.
    modules: Arc<RwLock<BTreeSet<PathBuf>>>,
}

struct AppSlot {
    spec: AppModule,
    /// The canonical folder the file is in, and the file as the watcher reports it (that
    /// folder joined with the file name).
    folder: PathBuf,
    watched_path: PathBuf,
    current: ArcSwapOption<LoadedModule>,
    status: Mutex<SlotStatus>,
    /// Held while the file loads, so the reload thread and [`ModuleRegistry::reload`] do
    /// not load it twice at once.
    loading: Mutex<()>,
}

#[derive(Default)]
struct SlotStatus {
    loaded_at: Option<SystemTime>,
    last_error: Option<String>,
    reloads: u64,
    /// The latest failed load, so the same bytes are not tried again.
    failed: Option<RulesError>,
    /// The module's folder cannot be watched.
    watch_error: Option<String>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ModuleRegistry {
    /// Loads every app's module, now and on this thread, then watches their folders. An
    /// app whose module fails to load is logged and has no module (its `status` says why;
    /// [`current`](Self::current) is `None`) until its file is fixed; the others load.
    ///
    /// # Errors
    /// [`RuleFailure::Unreadable`] (module `-`) when the file watcher cannot be created.
    /// A folder that cannot be watched is an error of its apps' status, not of `start`.
    pub fn start(engine: Arc<RulesEngine>, apps: Vec<AppModule>) -> Result<Arc<ModuleRegistry>, RulesError> {
        // A folder watch reports every file in the folder (a database beside the module
        // writes several times per request): only events for a module file, or that say
        // events were lost, reach the reload thread.
        let modules: Arc<RwLock<BTreeSet<PathBuf>>> = Arc::default();
        let (events, received) = mpsc::channel();
        let forward = {
            let modules = modules.clone();
            move |event: notify::Result<Event>| {
                let concerns = concerns_modules(&event, &modules.read().unwrap_or_else(PoisonError::into_inner));
                if concerns {
                    let _ = events.send(event);
                }
            }
        };
        let watcher = notify::recommended_watcher(forward).map_err(|e| RulesError {
            module: "-".into(),
            hash: String::new(),
            cause: RuleFailure::Unreadable(format!("cannot watch module files: {e}")),
        })?;
        let shared = Arc::new(Shared { engine, apps: RwLock::default(), modules });
        let registry =
            Arc::new(ModuleRegistry { shared, watch: Mutex::new(Watch { watcher, folders: BTreeMap::new() }) });
        for spec in apps {
            if registry.shared.slot(&spec.app).is_some() {
                tracing::warn!(app = %spec.app, "app listed twice for rules modules; the first entry is used");
                continue;
            }
            // Watch first, so a change made while the module loads is not missed.
            let slot = registry.attach(spec);
            let _ = registry.shared.load(&slot);
        }
        let reloader = Arc::clone(&registry.shared);
        std::thread::Builder::new()
            .name("rules-reload".into())
            .spawn(move || reloader.reload_on_change(&received))
            .map_err(|e| RulesError {
                module: "-".into(),
                hash: String::new(),
                cause: RuleFailure::Unreadable(format!("cannot start the reload thread: {e}")),
            })?;
        Ok(registry)
    }

    /// Makes `spec` an app's slot (replacing any it had), watches its folder, and returns
    /// it, with nothing loaded yet.
    fn attach(&self, spec: AppModule) -> Arc<AppSlot> {
        let folder = spec.path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let folder = folder.canonicalize().unwrap_or_else(|_| folder.to_path_buf());
        let watched_path = spec.path.file_name().map_or_else(|| spec.path.clone(), |name| folder.join(name));
        let slot = Arc::new(AppSlot {
            spec,
            folder,
            watched_path,
            current: ArcSwapOption::empty(),
            status: Mutex::new(SlotStatus::default()),
            loading: Mutex::new(()),
        });
        self.watch_folder(&slot);
        let previous = self.shared.apps_mut().insert(slot.spec.app.clone(), slot.clone());
        self.shared.write_modules().insert(slot.watched_path.clone());
        if let Some(previous) = previous {
            self.detach(&previous);
        }
        slot
    }

    fn watch_folder(&self, slot: &AppSlot) {
        let mut watch = lock(&self.watch);
        let count = watch.folders.entry(slot.folder.clone()).or_insert(0);
        *count += 1;
        if *count > 1 {
            return;
        }
        if let Err(e) = watch.watcher.watch(&slot.folder, RecursiveMode::NonRecursive) {
            let why = format!("cannot watch {}: {e}; changes to its modules are not picked up", slot.folder.display());
            tracing::error!(app = %slot.spec.app, folder = %slot.folder.display(), error = %e, "cannot watch the rules module folder");
            slot.status().watch_error = Some(why);
        }
    }

    /// Stops watching what only `slot` needed.
    fn detach(&self, slot: &AppSlot) {
        let still_used = self.shared.apps_read().values().any(|s| s.watched_path == slot.watched_path);
        if !still_used {
            self.shared.write_modules().remove(&slot.watched_path);
        }
        let mut watch = lock(&self.watch);
        if let Some(count) = watch.folders.get_mut(&slot.folder) {
            *count -= 1;
            if *count == 0 {
                watch.folders.remove(&slot.folder);
                let _ = watch.watcher.unwatch(&slot.folder);
            }
        }
    }

    /// Loads the module in `spec.path` with `spec`'s limits and settings (compiled, the
    /// settings checked against its declaration, self-tested) without serving it: the check
    /// before a change is saved, and what [`ModuleRegistry::install`] then serves.
    ///
    /// # Errors
    /// The file cannot be read or fails to load.
    pub fn prepare(&self, spec: &AppModule) -> Result<Arc<LoadedModule>, RulesError> {
        let name = module_name(spec);
        let bytes = std::fs::read(&spec.path).map_err(|e| RulesError {
            module: name.clone(),
            hash: String::new(),
            cause: RuleFailure::Unreadable(format!("{}: {e}", spec.path.display())),
        })?;
        self.shared.engine.load(&name, &bytes, spec.limits, &spec.settings)
    }

    /// Gives `spec.app` the module `prepare` loaded for `spec` (replacing what the app had,
    /// and watching the file from now on). Decisions in flight finish on the module they
    /// started with.
    pub fn install(&self, spec: AppModule, module: Arc<LoadedModule>) -> ModuleId {
        let id = module.id().clone();
        let reloads = self.shared.slot(&spec.app).map_or(0, |s| s.status().reloads + 1);
        let slot = self.attach(spec);
        slot.current.store(Some(module));
        let mut status = slot.status();
        status.loaded_at = Some(SystemTime::now());
        status.reloads = reloads;
        tracing::info!(app = %slot.spec.app, module = %id.name, hash = %id.short_hash(), "rules module now serving");
        id
    }

    /// Forgets `app`'s module (the app was removed, or no longer has rules).
    pub fn remove(&self, app: &str) {
        let removed = self.shared.apps_mut().remove(app);
        if let Some(slot) = removed {
            self.detach(&slot);
        }
    }

    /// Where `app`'s module file is, its limits and the app's settings; `None` for an app
    /// without rules.
    pub fn spec(&self, app: &str) -> Option<AppModule> {
        self.shared.slot(app).map(|slot| slot.spec.clone())
    }

    /// The engine modules load and run in.
    pub fn engine(&self) -> &Arc<RulesEngine> {
        &self.shared.engine
    }

    /// The module a decision starting now uses for `app`; `None` for an app without rules
    /// or whose module has never loaded.
    pub fn current(&self, app: &str) -> Option<Arc<LoadedModule>> {
        self.shared.slot(app)?.current.load_full()
    }

    /// Every app's module, path, load time, latest error and reload count, by app name.
    pub fn status(&self) -> Vec<ModuleStatus> {
        self.shared
            .apps_read()
            .values()
            .map(|slot| {
                let status = slot.status();
                let current = slot.current.load();
                ModuleStatus {
                    app: slot.spec.app.clone(),
                    path: slot.spec.path.clone(),
                    module: current.as_ref().map(|m| m.id().clone()),
                    world: current.as_ref().map(|m| m.world().to_owned()),
                    declaration: current.as_ref().and_then(|m| m.declaration()).map(<[_]>::to_vec),
                    loaded_at: status.loaded_at,
                    last_error: status.last_error.clone().or_else(|| status.watch_error.clone()),
                    reloads: status.reloads,
                }
            })
            .collect()
    }

    /// Loads `app`'s module file now, on this thread (for an explicit `reload` command; the
    /// watcher does this by itself). Unchanged bytes keep the module that is serving.
    ///
    /// # Errors
    /// The load failed (the previous module keeps serving), or `app` has no module
    /// ([`RuleFailure::Unreadable`]).
    pub fn reload(&self, app: &str) -> Result<ModuleId, RulesError> {
        let slot = self.shared.slot(app).ok_or_else(|| RulesError {
            module: "-".into(),
            hash: String::new(),
            cause: RuleFailure::Unreadable(format!("app {app} has no rules module")),
        })?;
        self.shared.load(&slot).map(|m| m.id().clone())
    }
}

/// The module's name: its file name without `.wasm`.
fn module_name(spec: &AppModule) -> String {
    spec.path.file_stem().map_or_else(|| spec.app.clone(), |s| s.to_string_lossy().into_owned())
}

impl AppSlot {
    fn status(&self) -> MutexGuard<'_, SlotStatus> {
        lock(&self.status)
    }
}

impl Shared {
    fn apps_read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Arc<AppSlot>>> {
        self.apps.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn apps_mut(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Arc<AppSlot>>> {
        self.apps.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn write_modules(&self) -> std::sync::RwLockWriteGuard<'_, BTreeSet<PathBuf>> {
        self.modules.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn slot(&self, app: &str) -> Option<Arc<AppSlot>> {
        self.apps_read().get(app).cloned()
    }

    /// Reads and loads `slot`'s file, and swaps it in; on failure, logs it and records it
    /// in the status, and the serving module stays.
    fn load(&self, slot: &AppSlot) -> Result<Arc<LoadedModule>, RulesError> {
        let _loading = slot.loading.lock().unwrap_or_else(PoisonError::into_inner);
        let name = module_name(&slot.spec);
        let path = &slot.spec.path;
        let outcome = match std::fs::read(path) {
            Err(e) => Err(RulesError {
                module: name,
                hash: String::new(),
                cause: RuleFailure::Unreadable(format!("{}: {e}", path.display())),
            }),
            Ok(bytes) => {
                let hash = super::engine::content_hash(&bytes);
                if let Some(current) = slot.current.load_full().filter(|m| m.id().hash == hash) {
                    let mut status = slot.status();
                    status.last_error = None;
                    status.failed = None;
                    return Ok(current);
                }
                let failed_before = slot.status().failed.clone().filter(|e| e.hash == hash);
                if let Some(e) = failed_before {
                    tracing::debug!(app = %slot.spec.app, path = %path.display(), "module file unchanged since it failed to load");
                    return Err(e);
                }
                self.engine.load(&name, &bytes, slot.spec.limits, &slot.spec.settings)
            }
        };
        let mut status = slot.status();
        match outcome {
            Ok(module) => {
                let previous = slot.current.swap(Some(Arc::clone(&module)));
                if previous.is_some() {
                    status.reloads += 1;
                }
                status.loaded_at = Some(SystemTime::now());
                status.last_error = None;
                status.failed = None;
                tracing::info!(
                    app = %slot.spec.app,
                    module = %module.id().name,
                    hash = %module.id().short_hash(),
                    previous = %previous.as_ref().map_or("-", |m| m.id().short_hash()),
                    path = %path.display(),
                    "rules module now serving"
                );
                Ok(module)
            }
            Err(e) => {
                tracing::error!(
                    app = %slot.spec.app,
                    module = %e.module,
                    path = %path.display(),
                    error = %e,
                    serving = %slot.current.load().as_ref().map_or("nothing", |m| m.id().short_hash()),
                    "rules module failed to load; the previous one keeps serving"
                );
                status.last_error = Some(e.to_string());
                status.failed = Some(e.clone()).filter(|e| !e.hash.is_empty());
                Err(e)
            }
        }
    }

    /// The reload thread: collects file events per app, and loads an app's file when an
    /// event says it is complete ([`settle_time`]), else once it has been quiet for
    /// [`DEBOUNCE`]. Ends when the watcher is dropped.
    fn reload_on_change(&self, events: &Receiver<notify::Result<Event>>) {
        let mut due: BTreeMap<String, Instant> = BTreeMap::new();
        loop {
            let received = match due.values().min() {
                Some(first) => events.recv_timeout(first.saturating_duration_since(Instant::now())),
                None => events.recv().map_err(|_| RecvTimeoutError::Disconnected),
            };
            match received {
                Ok(Ok(event)) => {
                    let at = Instant::now() + settle_time(&event.kind);
                    for app in self.apps_changed_by(&event) {
                        due.insert(app, at);
                    }
                }
                Ok(Err(e)) => tracing::warn!(error = %e, "rules module watch error"),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            let now = Instant::now();
            let ready: Vec<String> = due.iter().filter(|(_, at)| **at <= now).map(|(app, _)| app.clone()).collect();
            for app in ready {
                due.remove(&app);
                // Looked up again: the app may have been removed, or given another file.
                if let Some(slot) = self.slot(&app) {
                    let _ = self.load(&slot);
                }
            }
        }
    }

    /// The apps whose module file `event` may have changed: every app when the watcher
    /// lost events.
    fn apps_changed_by(&self, event: &Event) -> Vec<String> {
        let relevant = match event.kind {
            EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
            EventKind::Access(_) => false,
            _ => true,
        };
        self.apps_read()
            .values()
            .filter(|slot| event.need_rescan() || (relevant && event.paths.contains(&slot.watched_path)))
            .map(|slot| slot.spec.app.clone())
            .collect()
    }
}

/// Whether the reload thread must hear of `event`: it names a module file, says events
/// were lost, or is an error of the watcher.
fn concerns_modules(event: &notify::Result<Event>, modules: &BTreeSet<PathBuf>) -> bool {
    match event {
        Ok(e) => e.need_rescan() || e.paths.iter().any(|p| modules.contains(p)),
        Err(_) => true,
    }
}

/// How long to wait after `kind` before loading: nothing when the file is complete (the
/// writer closed it, or it was renamed into place, so no more bytes are coming), else
/// [`DEBOUNCE`]. A file created by `open` is still empty, so a creation waits too.
fn settle_time(kind: &EventKind) -> Duration {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write))
        | EventKind::Modify(ModifyKind::Name(RenameMode::To | RenameMode::Both)) => Duration::ZERO,
        _ => DEBOUNCE,
    }
}

const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<ModuleRegistry>();
    send_sync::<RulesEngine>();
    send_sync::<LoadedModule>();
};

#[cfg(test)]
mod tests {
    use notify::event::{CreateKind, DataChange, MetadataKind};

    use super::*;

    #[test]
    fn only_events_about_module_files_reach_the_reload_thread() {
        let modules: BTreeSet<PathBuf> = [PathBuf::from("/srv/rules/a.wasm")].into();
        let event = |path: &str| Ok(Event::new(EventKind::Any).add_path(PathBuf::from(path)));
        assert!(concerns_modules(&event("/srv/rules/a.wasm"), &modules));
        assert!(!concerns_modules(&event("/srv/rules/usersync.db-wal"), &modules));
        assert!(!concerns_modules(&event("/srv/rules/b.wasm"), &modules));
        let lost = Event::new(EventKind::Other).set_flag(notify::event::Flag::Rescan);
        assert!(concerns_modules(&Ok(lost), &modules), "lost events may have hidden a change");
        assert!(concerns_modules(&Err(notify::Error::generic("watch failed")), &modules));
    }

    #[test]
    fn complete_files_load_at_once_and_other_changes_wait_for_quiet() {
        let at_once = [
            EventKind::Access(AccessKind::Close(AccessMode::Write)),
            EventKind::Modify(ModifyKind::Name(RenameMode::To)),
            EventKind::Modify(ModifyKind::Name(RenameMode::Both)),
        ];
        for kind in at_once {
            assert_eq!(settle_time(&kind), Duration::ZERO, "{kind:?}");
        }
        let wait = [
            EventKind::Create(CreateKind::File),
            EventKind::Modify(ModifyKind::Data(DataChange::Any)),
            EventKind::Modify(ModifyKind::Name(RenameMode::From)),
            EventKind::Modify(ModifyKind::Metadata(MetadataKind::Any)),
            EventKind::Remove(notify::event::RemoveKind::File),
            EventKind::Any,
        ];
        for kind in wait {
            assert_eq!(settle_time(&kind), DEBOUNCE, "{kind:?}");
        }
    }
}
