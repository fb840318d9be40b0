//! Just enough arbitrary-size integer arithmetic to print bignums.

/// The magnitude without leading zero bytes.
pub(crate) fn trim(magnitude: &[u8]) -> &[u8] {
    let first = magnitude
        .iter()
        .position(|&b| b != 0)
        .unwrap_or(magnitude.len());
    magnitude.get(first..).unwrap_or_default()
}

/// The decimal digits of a bignum: `magnitude`, or `-1 - magnitude` when
/// `negative`.
pub(crate) fn to_decimal(negative: bool, magnitude: &[u8]) -> String {
    const BASE: u64 = 1_000_000_000;
    let mut magnitude = trim(magnitude).to_vec();
    if negative {
        // -1 - m = -(m + 1)
        let mut carry = true;
        for byte in magnitude.iter_mut().rev() {
            if !carry {
                break;
            }
            let (sum, overflow) = byte.overflowing_add(1);
            *byte = sum;
            carry = overflow;
        }
        if carry {
            magnitude.insert(0, 1);
        }
    }
    // Little-endian limbs in base 10^9.
    let mut limbs: Vec<u64> = Vec::new();
    for &byte in &magnitude {
        let mut carry = u64::from(byte);
        for limb in &mut limbs {
            let v = *limb * 256 + carry;
            *limb = v % BASE;
            carry = v / BASE;
        }
        while carry > 0 {
            limbs.push(carry % BASE);
            carry /= BASE;
        }
    }
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    match limbs.split_last() {
        None => out.push('0'),
        Some((top, rest)) => {
            out.push_str(&top.to_string());
            for limb in rest.iter().rev() {
                out.push_str(&format!("{limb:09}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal() {
        assert_eq!(to_decimal(false, &[]), "0");
        assert_eq!(to_decimal(true, &[]), "-1");
        assert_eq!(to_decimal(false, &[0, 0, 1, 0]), "256");
        assert_eq!(to_decimal(true, &[0xff]), "-256");
        assert_eq!(
            to_decimal(false, &[1, 0, 0, 0, 0, 0, 0, 0, 0]),
            "18446744073709551616"
        );
        assert_eq!(to_decimal(true, &[0xff; 8]), "-18446744073709551616");
        let mut two_127 = vec![0u8; 16];
        two_127[0] = 0x80;
        assert_eq!(
            to_decimal(false, &two_127),
            "170141183460469231731687303715884105728"
        );
        assert_eq!(
            to_decimal(false, &u128::MAX.to_be_bytes()),
            u128::MAX.to_string()
        );
    }
}
