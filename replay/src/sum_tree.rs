//! The sum tree of prioritized replay (Schaul et al. 2016, appendix B.2.1): leaves hold `priority^alpha`, inner
//! nodes the sums of their children, so a draw proportional to the leaves is one descent (O(log n)), and so is an
//! update. A min tree beside it gives the smallest non-zero leaf, which normalizes the importance weights.

#[derive(Debug, Clone, PartialEq)]
pub struct SumTree {
    /// Leaves padded to a power of two; `sums[1]` is the root, leaf i is `sums[size + i]`.
    size: usize,
    sums: Vec<f64>,
    /// Like `sums` with `min` instead of `+`; zero leaves count as +inf.
    mins: Vec<f64>,
}

impl SumTree {
    pub fn new(leaves: usize) -> Self {
        let size = leaves.max(1).next_power_of_two();
        SumTree { size, sums: vec![0.0; 2 * size], mins: vec![f64::INFINITY; 2 * size] }
    }

    pub fn total(&self) -> f64 {
        self.sums[1]
    }

    /// The smallest non-zero leaf (+inf when all are zero).
    pub fn min_nonzero(&self) -> f64 {
        self.mins[1]
    }

    pub fn get(&self, leaf: usize) -> f64 {
        self.sums[self.size + leaf]
    }

    pub fn set(&mut self, leaf: usize, value: f64) {
        debug_assert!(value >= 0.0 && value.is_finite(), "priority {value}");
        let mut i = self.size + leaf;
        self.sums[i] = value;
        self.mins[i] = if value > 0.0 { value } else { f64::INFINITY };
        while i > 1 {
            i /= 2;
            self.sums[i] = self.sums[2 * i] + self.sums[2 * i + 1];
            self.mins[i] = self.mins[2 * i].min(self.mins[2 * i + 1]);
        }
    }

    /// The leaf where the prefix sum passes `target` (in `[0, total)`); never a zero leaf while the total is
    /// positive, even when rounding puts `target` on a boundary.
    pub fn find(&self, mut target: f64) -> usize {
        let mut i = 1;
        while i < self.size {
            let (left, right) = (2 * i, 2 * i + 1);
            if (target < self.sums[left] && self.sums[left] > 0.0) || self.sums[right] <= 0.0 {
                i = left;
            } else {
                target -= self.sums[left];
                i = right;
            }
        }
        i - self.size
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_mins_and_prefix_search_by_hand() {
        let mut tree = SumTree::new(5); // padded to 8 leaves
        for (i, v) in [1.0, 0.0, 3.0, 2.0, 4.0].into_iter().enumerate() {
            tree.set(i, v);
        }
        assert_eq!(tree.total(), 10.0);
        assert_eq!(tree.min_nonzero(), 1.0);
        // Prefix sums: [0,1) -> 0, [1,4) -> 2 (leaf 1 is empty), [4,6) -> 3, [6,10) -> 4.
        let found: Vec<usize> = [0.0, 0.99, 1.0, 3.99, 4.0, 5.5, 6.0, 9.99].iter().map(|&t| tree.find(t)).collect();
        assert_eq!(found, [0, 0, 2, 2, 3, 3, 4, 4]);
        // A target at the very end (rounding) still lands on a non-zero leaf.
        assert_eq!(tree.find(10.0), 4);
        tree.set(0, 0.0);
        assert_eq!((tree.total(), tree.min_nonzero()), (9.0, 2.0));
    }
}
