//! The bare-metal runtime pieces a TEE port supplies itself: a panic handler and a global
//! allocator. Here: a bump allocator over a static 1 MiB arena that never frees (enough for a
//! build check; a real port uses its TEE's heap, e.g. OP-TEE's `malloc` through a small
//! `GlobalAlloc` wrapper, or a free-list allocator).

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicUsize, Ordering};

/// Size of the arena in bytes.
const ARENA_BYTES: usize = 1 << 20;

/// A bump allocator: `next` is the offset of the first free byte.
struct Arena {
    heap: UnsafeCell<[u8; ARENA_BYTES]>,
    next: AtomicUsize,
}

// SAFETY: the arena hands out disjoint byte ranges; `next` is only advanced by compare-exchange,
// so two threads never receive overlapping ranges.
unsafe impl Sync for Arena {}

// SAFETY: `alloc` returns either null or a pointer into the arena, aligned to `layout.align()`,
// followed by at least `layout.size()` bytes that no other allocation covers.
unsafe impl GlobalAlloc for Arena {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let base = self.heap.get().cast::<u8>();
        let base_addr = base as usize;
        let mut current = self.next.load(Ordering::Relaxed);
        loop {
            let Some(unaligned) = base_addr.checked_add(current) else {
                return core::ptr::null_mut();
            };
            let Some(aligned) = unaligned.checked_next_multiple_of(layout.align()) else {
                return core::ptr::null_mut();
            };
            let start = aligned - base_addr;
            let Some(end) = start.checked_add(layout.size()) else {
                return core::ptr::null_mut();
            };
            if end > ARENA_BYTES {
                return core::ptr::null_mut();
            }
            match self.next.compare_exchange_weak(
                current,
                end,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                // `start <= end <= ARENA_BYTES`: the pointer stays inside the arena.
                Ok(_) => return base.wrapping_add(start),
                Err(actual) => current = actual,
            }
        }
    }

    unsafe fn dealloc(&self, _ptr: *mut u8, _layout: Layout) {
        // A bump allocator never frees.
    }
}

#[global_allocator]
static ALLOCATOR: Arena =
    Arena { heap: UnsafeCell::new([0; ARENA_BYTES]), next: AtomicUsize::new(0) };

/// A TEE port reports the panic to its host (OP-TEE: TEE_Panic) and stops; here: spin.
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo<'_>) -> ! {
    loop {
        core::hint::spin_loop();
    }
}
