//! The module's allocator on wasm32: a bump allocator.
//!
//! A rules module lives for one decision: the host instantiates it fresh for each person
//! and throws the instance away after. Memory is never reused across decisions, so the
//! bookkeeping of a general-purpose allocator is wasted work; here allocation is a pointer
//! bump and freeing gives memory back only when it is the latest allocation (the common
//! case of a temporary `String`). It serves from a 1 MiB arena in the module's
//! zero-initialised data first, so a typical decision never executes `memory.grow`, and
//! then grows linear memory in runs of at least 1 MiB (the host's memory cap applies).
//!
//! On by default (the `bump-allocator` feature); a module that brings its own
//! `#[global_allocator]` turns the feature off.

#![allow(unsafe_code)]

use core::alloc::{GlobalAlloc, Layout};
use core::cell::Cell;
use core::ptr::{addr_of_mut, null_mut};

const ARENA_BYTES: usize = 1 << 20;
const PAGE: usize = 1 << 16;

#[repr(C, align(16))]
struct Arena([u8; ARENA_BYTES]);

static mut ARENA: Arena = Arena([0; ARENA_BYTES]);

struct Bump {
    next: Cell<usize>,
    end: Cell<usize>,
}

// SAFETY: a wasm32-unknown-unknown module has one thread.
unsafe impl Sync for Bump {}

#[global_allocator]
static GLOBAL: Bump = Bump { next: Cell::new(0), end: Cell::new(0) };

impl Bump {
    fn bump(&self, layout: Layout) -> Option<*mut u8> {
        let start = self.next.get().checked_add(layout.align() - 1)? & !(layout.align() - 1);
        let end = start.checked_add(layout.size())?;
        (end <= self.end.get()).then(|| {
            self.next.set(end);
            start as *mut u8
        })
    }

    fn grow(&self, layout: Layout) -> bool {
        let want = layout.size().saturating_add(layout.align()).max(ARENA_BYTES);
        let pages = want.div_ceil(PAGE);
        let previous = core::arch::wasm32::memory_grow(0, pages);
        if previous == usize::MAX {
            return false;
        }
        self.next.set(previous * PAGE);
        self.end.set(previous * PAGE + pages * PAGE);
        true
    }
}

unsafe impl GlobalAlloc for Bump {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if self.end.get() == 0 {
            let base = addr_of_mut!(ARENA) as usize;
            self.next.set(base);
            self.end.set(base + ARENA_BYTES);
        }
        if let Some(p) = self.bump(layout) {
            return p;
        }
        if !self.grow(layout) {
            return null_mut();
        }
        self.bump(layout).unwrap_or(null_mut())
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // Only the latest allocation can be given back.
        if ptr as usize + layout.size() == self.next.get() {
            self.next.set(ptr as usize);
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // The latest allocation grows (or shrinks) in place when it fits.
        if ptr as usize + layout.size() == self.next.get() {
            if let Some(end) = (ptr as usize).checked_add(new_size).filter(|end| *end <= self.end.get()) {
                self.next.set(end);
                return ptr;
            }
        }
        // SAFETY: as `GlobalAlloc::realloc`'s contract; the new block is fresh memory.
        unsafe {
            let Ok(new_layout) = Layout::from_size_align(new_size, layout.align()) else { return null_mut() };
            let fresh = self.alloc(new_layout);
            if !fresh.is_null() {
                core::ptr::copy_nonoverlapping(ptr, fresh, layout.size().min(new_size));
            }
            fresh
        }
    }
}
