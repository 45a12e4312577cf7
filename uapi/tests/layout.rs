// SPDX-License-Identifier: GPL-2.0
//! The window layout: what is accepted, what is refused, and that regions never overlap.

use rstest::rstest;
use xpu_uapi::shm::*;

const MIB: u64 = 1 << 20;

#[rstest]
#[case::smallest(MIN_WINDOW_SIZE, 1, 8, 2048)]
#[case::default_4q(16 * MIB, 4, 256, 2048)]
#[case::jumbo(64 * MIB, 2, 64, 65536 + 2048)]
#[case::max_queues(64 * MIB, MAX_QUEUES, 256, 4096)]
fn accepts_valid(#[case] win: u64, #[case] q: u16, #[case] ring: u32, #[case] buf: u32) {
    let l = Layout::new(win, q, ring, buf).expect("valid layout");
    assert_eq!(u64::from(l.half_size()), win / 2);
    // Regions in order, aligned, and the last buffer ends inside the half.
    let last_desc = l.desc_off(q - 1, ring - 1).unwrap() + 16;
    let first_cons = l.consumer_off(0).unwrap();
    assert!(l.producer_off(0).unwrap() as usize >= SIDE_HEADER_SPACE);
    assert!(last_desc <= first_cons, "rings overlap consumer blocks");
    let last_cons = l.consumer_off(q - 1).unwrap() + CACHE_LINE as u32;
    assert!(
        last_cons <= l.data_area_off(0).unwrap(),
        "consumer blocks overlap data areas"
    );
    assert_eq!(l.data_size(), ring * buf);
    for qq in 1..q {
        assert_eq!(
            l.data_area_off(qq).unwrap() - l.data_area_off(qq - 1).unwrap(),
            l.data_size(),
            "data areas overlap or leave gaps"
        );
    }
    let end = u64::from(l.data_area_off(q - 1).unwrap()) + u64::from(l.data_size());
    assert!(end <= win / 2, "data runs past the half");
    for qq in 0..q {
        assert_eq!(l.producer_off(qq).unwrap() % CACHE_LINE as u32, 0);
        assert_eq!(l.consumer_off(qq).unwrap() % CACHE_LINE as u32, 0);
        assert_eq!(l.data_area_off(qq).unwrap() % CACHE_LINE as u32, 0);
    }
}

#[rstest]
#[case::window_not_pow2(3 * MIB, 1, 8, 2048, LayoutError::WindowSize)]
#[case::window_tiny(32 * 1024, 1, 8, 2048, LayoutError::WindowSize)]
#[case::window_huge(1 << 33, 1, 8, 2048, LayoutError::WindowSize)]
#[case::zero_queues(MIB, 0, 8, 2048, LayoutError::QueueCount)]
#[case::too_many_queues(MIB, MAX_QUEUES + 1, 8, 2048, LayoutError::QueueCount)]
#[case::ring_not_pow2(MIB, 1, 100, 2048, LayoutError::RingSize)]
#[case::ring_too_small(MIB, 1, 4, 2048, LayoutError::RingSize)]
#[case::ring_too_big(MIB, 1, 8192, 2048, LayoutError::RingSize)]
#[case::buf_unaligned(MIB, 1, 8, 2050, LayoutError::BufSize)]
#[case::buf_too_small(MIB, 1, 8, 1024, LayoutError::BufSize)]
#[case::does_not_fit(MIB, 4, 256, 2048, LayoutError::TooBig)]
fn refuses_invalid(
    #[case] win: u64,
    #[case] q: u16,
    #[case] ring: u32,
    #[case] buf: u32,
    #[case] err: LayoutError,
) {
    assert_eq!(Layout::new(win, q, ring, buf), Err(err));
}

#[test]
fn indices_wrap_and_queues_are_bounded() {
    let l = Layout::new(16 * MIB, 4, 256, 2048).unwrap();
    assert_eq!(l.desc_off(1, 3), l.desc_off(1, 3 + 256));
    assert_eq!(l.desc_off(1, u32::MAX), l.desc_off(1, 255));
    assert_eq!(l.producer_off(4), None);
    assert_eq!(l.consumer_off(4), None);
    assert_eq!(l.desc_off(4, 0), None);
    assert_eq!(l.data_area_off(4), None);
    assert_eq!(l.data_area_off(u16::MAX), None);
}

fn published() -> (SideHeader, u64) {
    let win = 16 * MIB;
    (
        Layout::new(win, 4, 256, 2048)
            .expect("valid layout")
            .header(0, 1, 1500, 0),
        win,
    )
}

#[test]
fn header_round_trips() {
    let (h, win) = published();
    let l = Layout::from_header(&h, win).unwrap();
    assert_eq!(l, Layout::new(win, 4, 256, 2048).unwrap());
    assert_eq!(SideState::from_raw(h.state), Some(SideState::Ready));
}

#[rstest]
#[case::bad_magic(|h: &mut SideHeader| h.magic = 0, LayoutError::Magic)]
#[case::other_major(|h: &mut SideHeader| h.version = 2 << 16, LayoutError::Version)]
#[case::moved_rings(|h: &mut SideHeader| h.ring_off += 64, LayoutError::Inconsistent)]
#[case::moved_data(|h: &mut SideHeader| h.data_off = 0, LayoutError::Inconsistent)]
#[case::lies_about_half(|h: &mut SideHeader| h.half_size *= 2, LayoutError::Inconsistent)]
#[case::zero_queues(|h: &mut SideHeader| h.num_queues = 0, LayoutError::QueueCount)]
#[case::huge_ring(|h: &mut SideHeader| h.ring_size = 1 << 31, LayoutError::RingSize)]
#[case::huge_bufs(|h: &mut SideHeader| h.buf_size = 1 << 20, LayoutError::BufSize)]
fn refuses_tampered_header(#[case] tamper: fn(&mut SideHeader), #[case] err: LayoutError) {
    let (mut h, win) = published();
    tamper(&mut h);
    assert_eq!(Layout::from_header(&h, win), Err(err));
}

#[test]
fn minor_version_is_compatible() {
    let (mut h, win) = published();
    h.version = VERSION | 7;
    assert!(Layout::from_header(&h, win).is_ok());
}

#[rstest]
#[case::first_packet(0, 1500, true)]
#[case::gso_packet(0, 65536, true)]
#[case::whole_area(0, 256 * 2048, true)]
#[case::past_area_end(0, 256 * 2048 + 1, false)]
#[case::ends_at_area_end(256 * 2048 - 100, 100, true)]
#[case::runs_past_area_end(256 * 2048 - 100, 101, false)]
#[case::zero_len(0, 0, false)]
#[case::len_overflow(100, u32::MAX, false)]
#[case::before_area(-64, 64, false)]
#[case::after_area(256 * 2048, 64, false)]
#[case::next_queue(256 * 2048 + 64, 64, false)]
fn checks_untrusted_descriptors(#[case] rel: i64, #[case] len: u32, #[case] ok: bool) {
    let l = Layout::new(16 * MIB, 4, 256, 2048).unwrap();
    let q = 1;
    let base = i64::from(l.data_area_off(q).unwrap());
    let off = u32::try_from(base + rel).unwrap();
    let d = Desc {
        off,
        len,
        ..Desc::default()
    };
    assert_eq!(l.check_desc(q, &d).is_some(), ok, "off {off} len {len}");
}

#[test]
fn side_state_decodes_only_known_values() {
    for s in [
        SideState::Down,
        SideState::Ready,
        SideState::Up,
        SideState::Resetting,
    ] {
        assert_eq!(SideState::from_raw(s as u32), Some(s));
    }
    assert_eq!(SideState::from_raw(4), None);
    assert_eq!(SideState::from_raw(u32::MAX), None);
}

#[test]
fn a_window_within_any_length_is_the_largest_power_of_two_that_fits() {
    assert_eq!(window_within(256 << 20), Some(256 << 20));
    assert_eq!(window_within(768 << 20), Some(512 << 20));
    assert_eq!(window_within(16 << 30), Some(MAX_WINDOW_SIZE));
    assert_eq!(window_within(MIN_WINDOW_SIZE), Some(MIN_WINDOW_SIZE));
    assert_eq!(window_within(MIN_WINDOW_SIZE - 1), None);
    assert_eq!(window_within(0), None);
    for len in [MIN_WINDOW_SIZE, 3 << 20, 1 << 31, u64::MAX] {
        let w = window_within(len).expect("a window");
        assert!(w <= len && w.is_power_of_two());
        assert!(
            Layout::new(w, 1, MIN_RING_SIZE, MIN_BUF_SIZE).is_ok(),
            "{w} is no window"
        );
    }
}
