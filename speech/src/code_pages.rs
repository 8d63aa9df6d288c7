//! Gives the program's read-only pages back once a voice is loaded or has
//! spoken.
//!
//! Loading a voice runs code nothing else runs: the protobuf parser, tract's
//! model analysis and its optimizer passes, megabytes of machine code spread
//! over the binary. The kernel maps each touched page with up to 15 of its
//! neighbours (fault-around), so after a load about 15 MiB of the
//! executable's text stays in the daemon's resident set, most of it never
//! run again. Those pages are clean copies of the file: dropping them from
//! the page tables (`MADV_DONTNEED`) loses nothing, the page cache keeps
//! them, and whatever runs later maps its pages again with a minor fault.
//!
//! Only the main executable's segments without write permission are
//! touched: its text and read-only data, never a relocated or written page.

use std::ffi::c_void;

/// Drops the main executable's read-only pages (text and read-only data)
/// from this process's page tables; returns how many bytes were advised.
/// Safe at any time from any thread: a page is mapped again from the file
/// when it is next used.
pub fn release_code_pages() -> std::io::Result<usize> {
    let mut segments = Segments::default();
    // SAFETY: the callback only reads the program headers glibc hands it,
    // for the duration of the call, and writes `segments` through `data`,
    // which outlives the call.
    unsafe {
        libc::dl_iterate_phdr(Some(main_program), (&mut segments as *mut Segments).cast());
    }
    let page = page_size();
    let mut advised = 0;
    for &(start, end) in &segments.ranges[..segments.count] {
        // Whole pages only: a page shared with a writable segment stays.
        let start = start.next_multiple_of(page);
        let end = end / page * page;
        if end <= start {
            continue;
        }
        // SAFETY: the range lies inside a mapped, non-writable segment of
        // this executable; MADV_DONTNEED on a private file mapping that was
        // never written only removes page-table entries, and the next
        // access maps the same file bytes again.
        let rc = unsafe { libc::madvise(start as *mut c_void, end - start, libc::MADV_DONTNEED) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        advised += end - start;
    }
    Ok(advised)
}

/// The main executable's non-writable `PT_LOAD` segments, as address
/// ranges; an executable has two or three.
#[derive(Default)]
struct Segments {
    ranges: [(usize, usize); 8],
    count: usize,
}

/// `dl_iterate_phdr`'s callback: the first object it is given is the main
/// program; its non-writable loadable segments are recorded, then the walk
/// stops.
unsafe extern "C" fn main_program(
    info: *mut libc::dl_phdr_info,
    _size: libc::size_t,
    data: *mut c_void,
) -> libc::c_int {
    // SAFETY: glibc passes a valid `dl_phdr_info` and our `data`.
    let (info, segments) = unsafe { (&*info, &mut *data.cast::<Segments>()) };
    // SAFETY: `dlpi_phdr` points at `dlpi_phnum` program headers.
    let headers =
        unsafe { std::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum)) };
    for header in headers {
        if header.p_type != libc::PT_LOAD || header.p_flags & libc::PF_W != 0 {
            continue;
        }
        if segments.count == segments.ranges.len() {
            break;
        }
        let start = info.dlpi_addr as usize + header.p_vaddr as usize;
        segments.ranges[segments.count] = (start, start + header.p_memsz as usize);
        segments.count += 1;
    }
    // Non-zero: the main program is all we want.
    1
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size)
        .ok()
        .filter(|s| *s > 0)
        .unwrap_or(4096)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;
    use std::io::{Read, Seek, SeekFrom};

    /// Read-only data of the test binary, 64 pages of it (non-zero, so it
    /// lives in the file, not in `.bss`).
    static DATA: [u8; 64 * 4096] = [7; 64 * 4096];

    /// How many of `DATA`'s middle 32 pages are mapped in this process,
    /// from `/proc/self/pagemap` (bit 63 of each page's entry: present).
    /// The 16 pages at each end are left out: a fault on data beside
    /// `DATA` maps them again (the kernel's 64 KiB fault-around).
    fn present_pages() -> usize {
        let page = page_size();
        let first = (DATA.as_ptr() as usize).next_multiple_of(page) + 16 * page;
        let last = first + 32 * page;
        let mut pagemap = File::open("/proc/self/pagemap").unwrap();
        let mut present = 0;
        for addr in (first..last).step_by(page) {
            pagemap
                .seek(SeekFrom::Start((addr / page * 8) as u64))
                .unwrap();
            let mut entry = [0u8; 8];
            pagemap.read_exact(&mut entry).unwrap();
            present += usize::from(u64::from_ne_bytes(entry) >> 63 == 1);
        }
        present
    }

    /// Reads one byte of each of `DATA`'s pages (volatile: not folded into
    /// a constant), so that each is mapped.
    fn touch_every_page() -> u64 {
        (0..DATA.len())
            .step_by(page_size())
            // SAFETY: a reference to a byte of a static is valid to read.
            .map(|i| u64::from(unsafe { std::ptr::read_volatile(&DATA[i]) }))
            .sum()
    }

    #[test]
    fn read_only_pages_leave_the_resident_set_and_come_back_intact() {
        let sum = touch_every_page();
        let whole = present_pages();
        assert_eq!(whole, 32, "the touched pages are mapped");
        let advised = release_code_pages().unwrap();
        assert!(advised >= DATA.len(), "advised {advised} bytes");
        assert_eq!(present_pages(), 0, "no page of the data stays mapped");
        // Read again: the same bytes, from the file.
        assert_eq!(touch_every_page(), sum);
        assert!(DATA.iter().all(|b| *b == 7));
    }
}
