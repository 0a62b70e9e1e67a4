//! Prints the heap the API tree takes once built, as the daemons build it (without
//! documentation; `--docs` keeps it), and the allocation sizes holding most of it:
//! `cargo run --release -p pve-manager --example router_heap`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);
static BY_SIZE: [AtomicIsize; 4097] = [const { AtomicIsize::new(0) }; 4097];

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        BY_SIZE[l.size().min(4096)].fetch_add(l.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        BY_SIZE[l.size().min(4096)].fetch_sub(l.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static A: Counting = Counting;

fn main() {
    if !std::env::args().any(|a| a == "--docs") {
        pve_common::schema::drop_docs();
    }
    let before = LIVE.load(Ordering::Relaxed);
    let root = pve_manager::api::root();
    println!(
        "API tree: {} bytes of heap (a Schema is {} bytes, an ApiMethod {})",
        LIVE.load(Ordering::Relaxed) - before,
        std::mem::size_of::<pve_common::schema::Schema>(),
        std::mem::size_of::<pve_common::api::ApiMethod>(),
    );
    let mut sizes: Vec<(usize, isize)> = (0..BY_SIZE.len())
        .map(|i| (i, BY_SIZE[i].load(Ordering::Relaxed)))
        .filter(|&(_, b)| b > 0)
        .collect();
    sizes.sort_by_key(|&(_, b)| -b);
    for (size, bytes) in sizes.iter().take(10) {
        let size = if *size == 4096 {
            ">= 4096".to_string()
        } else {
            size.to_string()
        };
        println!("  allocations of {size} bytes: {bytes} bytes live");
    }
    drop(root);
}
