//! Helpers shared by the fuzz targets.

/// Splits `data` into chunks whose sizes come from `sizes` (cycled; a zero
/// size means one byte), so one input exercises many read boundaries.
pub fn chunks<'a>(data: &'a [u8], sizes: &'a [u8]) -> impl Iterator<Item = &'a [u8]> + 'a {
    let mut rest = data;
    let mut i = 0usize;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let n = if sizes.is_empty() {
            rest.len()
        } else {
            (sizes[i % sizes.len()] as usize).max(1)
        };
        i += 1;
        let (head, tail) = rest.split_at(n.min(rest.len()));
        rest = tail;
        Some(head)
    })
}

/// Splits a fuzz input into a control prefix of `n` bytes and the rest.
pub fn split_control<const N: usize>(data: &[u8]) -> Option<([u8; N], &[u8])> {
    if data.len() < N {
        return None;
    }
    let (ctl, rest) = data.split_at(N);
    Some((ctl.try_into().ok()?, rest))
}
