//! Segments: the GDT (kernel and user code and data, the TSS) and the TSS
//! with its interrupt-stack table.
//!
//! Each core needs its own TSS (and so its own GDT): [`CpuTables`] is one
//! core's set, and [`init_boot_cpu`] installs the boot core's from statics.
//! Cores started later build theirs on the heap and call [`CpuTables::load`].
//!
//! The selector order (kernel code, kernel data, user data, user code) is
//! the one `syscall`/`sysret` need in phase 2.

use core::cell::UnsafeCell;

use ::x86_64::VirtAddr;
use ::x86_64::instructions::segmentation::{CS, DS, ES, SS, Segment};
use ::x86_64::instructions::tables::load_tss;
use ::x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable, SegmentSelector};
use ::x86_64::structures::tss::TaskStateSegment;
use spin::Once;

/// Interrupt-stack-table slots (the TSS numbers them from 1; the array
/// from 0). Faults that can strike on a broken stack get a known-good one.
pub const DOUBLE_FAULT_IST: u16 = 1;
pub const NMI_IST: u16 = 2;
pub const MACHINE_CHECK_IST: u16 = 3;
/// A page fault gets its own stack so a kernel stack overflow (a fault on
/// the guard page) can still be reported. While page faults only report and
/// halt they cannot nest; when they become recoverable this must change.
pub const PAGE_FAULT_IST: u16 = 4;
const IST_COUNT: usize = 4;
pub const IST_STACK_SIZE: usize = 16 * 1024;

pub const KERNEL_CODE: SegmentSelector = SegmentSelector(0x08);
pub const KERNEL_DATA: SegmentSelector = SegmentSelector(0x10);
pub const USER_DATA: SegmentSelector = SegmentSelector(0x18 | 3);
pub const USER_CODE: SegmentSelector = SegmentSelector(0x20 | 3);
pub const TSS: SegmentSelector = SegmentSelector(0x28);

/// Stacks the CPU switches to; written by the CPU, hence `UnsafeCell`.
#[repr(C, align(16))]
pub struct IstStacks(UnsafeCell<[[u8; IST_STACK_SIZE]; IST_COUNT]>);

// SAFETY: only the CPU writes these stacks, one trap at a time per slot; Rust
// code never forms references into them.
unsafe impl Sync for IstStacks {}

impl IstStacks {
    pub const fn new() -> Self {
        IstStacks(UnsafeCell::new([[0; IST_STACK_SIZE]; IST_COUNT]))
    }

    fn top(&'static self, slot: usize) -> VirtAddr {
        let base = self.0.get() as u64 + (slot * IST_STACK_SIZE) as u64;
        VirtAddr::new(base + IST_STACK_SIZE as u64)
    }
}

impl Default for IstStacks {
    fn default() -> Self {
        Self::new()
    }
}

/// One core's GDT and TSS.
pub struct CpuTables {
    tss: TaskStateSegment,
    gdt: Once<GlobalDescriptorTable>,
}

impl CpuTables {
    /// `entry_stack` is where the CPU switches to on a trap from ring 3
    /// (RSP0).
    pub fn new(stacks: &'static IstStacks, entry_stack: VirtAddr) -> Self {
        let mut tss = TaskStateSegment::new();
        tss.privilege_stack_table[0] = entry_stack;
        for slot in 0..IST_COUNT {
            tss.interrupt_stack_table[slot] = stacks.top(slot);
        }
        CpuTables {
            tss,
            gdt: Once::new(),
        }
    }

    /// Loads this GDT and TSS on the calling core and reloads every segment
    /// register.
    pub fn load(&'static self) {
        let gdt = self.gdt.call_once(|| {
            let mut gdt = GlobalDescriptorTable::new();
            let selectors = [
                gdt.append(Descriptor::kernel_code_segment()),
                gdt.append(Descriptor::kernel_data_segment()),
                gdt.append(Descriptor::user_data_segment()),
                gdt.append(Descriptor::user_code_segment()),
                gdt.append(Descriptor::tss_segment(&self.tss)),
            ];
            debug_assert_eq!(
                selectors,
                [KERNEL_CODE, KERNEL_DATA, USER_DATA, USER_CODE, TSS]
            );
            gdt
        });
        gdt.load();
        // SAFETY: the GDT just loaded has these descriptors at these
        // selectors (checked above), and it lives for 'static.
        unsafe {
            CS::set_reg(KERNEL_CODE);
            SS::set_reg(KERNEL_DATA);
            DS::set_reg(KERNEL_DATA);
            ES::set_reg(KERNEL_DATA);
            load_tss(TSS);
        }
    }
}

static BOOT_CPU_STACKS: IstStacks = IstStacks::new();
static BOOT_CPU_TABLES: Once<CpuTables> = Once::new();

/// Installs the boot core's GDT and TSS.
pub fn init_boot_cpu() {
    BOOT_CPU_TABLES
        .call_once(|| CpuTables::new(&BOOT_CPU_STACKS, super::user::entry_stack_top(0)))
        .load();
}
