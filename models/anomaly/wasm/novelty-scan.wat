;; The novelty scan's hot loop (models/anomaly/novelty.ts): squared Euclidean distances from the
;; newest pattern to the candidates two lags at a time (f64x2), each lane summing its squares in
;; the same order as the scalar code, so every best is bit-for-bit the one the scalar scan finds.
;; Assembled by models/anomaly/wasm/build.ts into novelty-scan.wasm.ts (checked by a test).
;;
;; Memory (one page is room for 8,000 values; the caller grows it for more):
;;   0   i32 x 4   pattern lengths, ascending, the longest last (nl of them, 1..4)
;;   64  v128 x 4  per length, the best squared distance so far in each lane (in and out)
;;   128 i64x2     per lane, the lag of the longest length's best, or -1 (in and out)
;;   1024 f64 x n  the window: oldest first, the newest value (the pattern's first) last
;; A candidate `back` lags behind the newest reads window[n - 1 - back - k] against the pattern's
;; window[n - 1 - k], k = 0 .. longest - 1. Lags lo, lo + 1, ..., hi (an even count): lane 0 of a
;; pair holds lag back + 1, lane 1 lag back. Eight lags (four pairs, four accumulators) go at a
;; time, so the additions of one candidate's squares, which must stay in order, overlap with the
;; other candidates' instead of waiting on each other; the last few pairs go one at a time.
(module
  (memory (export "memory") 1)
  (func (export "scan") (param $n i32) (param $lo i32) (param $hi i32) (param $nl i32)
    (local $back i32) (local $p i32) (local $q i32) (local $k i32) (local $j i32) (local $end i32)
    (local $lastAt i32) (local $newest i32) (local $at i32)
    (local $acc v128) (local $d v128) (local $best v128) (local $idx v128) (local $mask v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128) (local $x v128) (local $lag v128)
    (local.set $lastAt (i32.add (i32.const 48) (i32.shl (local.get $nl) (i32.const 4))))
    (local.set $best (v128.load (local.get $lastAt)))
    (local.set $idx (v128.load (i32.const 128)))
    (local.set $newest (i32.add (i32.const 1024) (i32.shl (i32.sub (local.get $n) (i32.const 1)) (i32.const 3))))
    (local.set $back (local.get $lo))
    ;; ---- four pairs at a time: lags back .. back + 7
    (block $quadsDone
      (loop $quads
        (br_if $quadsDone (i32.gt_s (i32.add (local.get $back) (i32.const 7)) (local.get $hi)))
        ;; $p: the deepest pair (lags back + 6, back + 7); the shallower pairs sit 16, 32, 48 bytes above.
        (local.set $p (i32.add (i32.const 1024)
          (i32.shl (i32.sub (i32.sub (local.get $n) (i32.const 8)) (local.get $back)) (i32.const 3))))
        (local.set $q (local.get $newest))
        (local.set $a0 (v128.const f64x2 0 0))
        (local.set $a1 (v128.const f64x2 0 0))
        (local.set $a2 (v128.const f64x2 0 0))
        (local.set $a3 (v128.const f64x2 0 0))
        (local.set $k (i32.const 0))
        (local.set $j (i32.const 0))
        (block $skip
          (loop $segs
            (local.set $end (i32.load (i32.shl (local.get $j) (i32.const 2))))
            (loop $terms4
              (local.set $x (v128.load64_splat (local.get $q)))
              (local.set $d (f64x2.sub (local.get $x) (v128.load offset=48 (local.get $p))))
              (local.set $a0 (f64x2.add (local.get $a0) (f64x2.mul (local.get $d) (local.get $d))))
              (local.set $d (f64x2.sub (local.get $x) (v128.load offset=32 (local.get $p))))
              (local.set $a1 (f64x2.add (local.get $a1) (f64x2.mul (local.get $d) (local.get $d))))
              (local.set $d (f64x2.sub (local.get $x) (v128.load offset=16 (local.get $p))))
              (local.set $a2 (f64x2.add (local.get $a2) (f64x2.mul (local.get $d) (local.get $d))))
              (local.set $d (f64x2.sub (local.get $x) (v128.load (local.get $p))))
              (local.set $a3 (f64x2.add (local.get $a3) (f64x2.mul (local.get $d) (local.get $d))))
              (local.set $p (i32.sub (local.get $p) (i32.const 8)))
              (local.set $q (i32.sub (local.get $q) (i32.const 8)))
              (local.set $k (i32.add (local.get $k) (i32.const 1)))
              (br_if $terms4 (i32.lt_s (local.get $k) (local.get $end))))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (if (i32.lt_s (local.get $j) (local.get $nl))
              (then
                (local.set $at (i32.add (i32.const 48) (i32.shl (local.get $j) (i32.const 4))))
                (v128.store (local.get $at)
                  (f64x2.pmin (f64x2.pmin (f64x2.pmin (f64x2.pmin (v128.load (local.get $at))
                    (local.get $a0)) (local.get $a1)) (local.get $a2)) (local.get $a3)))
                (br_if $skip (i32.eqz (v128.any_true (v128.or
                  (v128.or (f64x2.lt (local.get $a0) (local.get $best)) (f64x2.lt (local.get $a1) (local.get $best)))
                  (v128.or (f64x2.lt (local.get $a2) (local.get $best)) (f64x2.lt (local.get $a3) (local.get $best)))))))
                (br $segs))))
          ;; The longest length, the pairs in ascending lag order (each lane keeps its first nearest).
          (local.set $lag (i64x2.add (i64x2.splat (i64.extend_i32_s (local.get $back))) (v128.const i64x2 1 0)))
          (local.set $mask (f64x2.lt (local.get $a0) (local.get $best)))
          (local.set $best (v128.bitselect (local.get $a0) (local.get $best) (local.get $mask)))
          (local.set $idx (v128.bitselect (local.get $lag) (local.get $idx) (local.get $mask)))
          (local.set $lag (i64x2.add (local.get $lag) (v128.const i64x2 2 2)))
          (local.set $mask (f64x2.lt (local.get $a1) (local.get $best)))
          (local.set $best (v128.bitselect (local.get $a1) (local.get $best) (local.get $mask)))
          (local.set $idx (v128.bitselect (local.get $lag) (local.get $idx) (local.get $mask)))
          (local.set $lag (i64x2.add (local.get $lag) (v128.const i64x2 2 2)))
          (local.set $mask (f64x2.lt (local.get $a2) (local.get $best)))
          (local.set $best (v128.bitselect (local.get $a2) (local.get $best) (local.get $mask)))
          (local.set $idx (v128.bitselect (local.get $lag) (local.get $idx) (local.get $mask)))
          (local.set $lag (i64x2.add (local.get $lag) (v128.const i64x2 2 2)))
          (local.set $mask (f64x2.lt (local.get $a3) (local.get $best)))
          (local.set $best (v128.bitselect (local.get $a3) (local.get $best) (local.get $mask)))
          (local.set $idx (v128.bitselect (local.get $lag) (local.get $idx) (local.get $mask))))
        (local.set $back (i32.add (local.get $back) (i32.const 8)))
        (br $quads)))
    ;; ---- the remaining pairs, one at a time
    (block $done
      (loop $pairs
        (br_if $done (i32.ge_s (local.get $back) (local.get $hi)))
        (local.set $p (i32.add (i32.const 1024)
          (i32.shl (i32.sub (i32.sub (local.get $n) (i32.const 2)) (local.get $back)) (i32.const 3))))
        (local.set $q (local.get $newest))
        (local.set $acc (v128.const f64x2 0 0))
        (local.set $k (i32.const 0))
        (local.set $j (i32.const 0))
        (block $next
          (loop $segments
            (local.set $end (i32.load (i32.shl (local.get $j) (i32.const 2))))
            (loop $terms
              (local.set $d (f64x2.sub (v128.load64_splat (local.get $q)) (v128.load (local.get $p))))
              (local.set $acc (f64x2.add (local.get $acc) (f64x2.mul (local.get $d) (local.get $d))))
              (local.set $p (i32.sub (local.get $p) (i32.const 8)))
              (local.set $q (i32.sub (local.get $q) (i32.const 8)))
              (local.set $k (i32.add (local.get $k) (i32.const 1)))
              (br_if $terms (i32.lt_s (local.get $k) (local.get $end))))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (if (i32.lt_s (local.get $j) (local.get $nl))
              (then
                ;; A shorter length ends here: keep the nearer (pmin keeps the best on NaN).
                (v128.store (i32.add (i32.const 48) (i32.shl (local.get $j) (i32.const 4)))
                  (f64x2.pmin (v128.load (i32.add (i32.const 48) (i32.shl (local.get $j) (i32.const 4)))) (local.get $acc)))
                ;; Squares only add: a prefix at or past the longest's best in both lanes is past
                ;; every best it could lower (each lane's shorter bests are at most its longest's).
                (br_if $next (i32.eqz (v128.any_true (f64x2.lt (local.get $acc) (local.get $best)))))
                (br $segments))))
          ;; The longest length: strictly nearer in a lane takes that lane's best and lag.
          (local.set $mask (f64x2.lt (local.get $acc) (local.get $best)))
          (local.set $best (v128.bitselect (local.get $acc) (local.get $best) (local.get $mask)))
          (local.set $idx (v128.bitselect
            (i64x2.add (i64x2.splat (i64.extend_i32_s (local.get $back))) (v128.const i64x2 1 0))
            (local.get $idx) (local.get $mask))))
        (local.set $back (i32.add (local.get $back) (i32.const 2)))
        (br $pairs)))
    (v128.store (local.get $lastAt) (local.get $best))
    (v128.store (i32.const 128) (local.get $idx))))
