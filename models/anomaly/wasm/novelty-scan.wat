;; The novelty scan (models/anomaly/novelty.ts) for one new value: squared Euclidean distances
;; from the newest pattern to every candidate in memory, the nearest per pattern length, and the
;; lag of the longest length's nearest. Every candidate's squares are summed in the order of the
;; plain scalar loop (f64x2 add / mul / sub round as the scalar operations do, no fused
;; multiply-add), so every best is bit for bit the brute-force one.
;; Assembled by models/anomaly/wasm/build.ts into novelty-scan.wasm.ts (checked by a test).
;;
;; Memory (the caller grows it as its series need):
;;   0    i32 x 4   pattern lengths, ascending, the longest last (nl of them, 1..4)
;;   32   f64 x 4   per length, the best squared distance (out of `push`)
;;   64   v128 x 4  per length, the best so far in each lane of the paired scan
;;   128  i64x2     per lane, the lag of the longest length's best, or -1
;;   1024 ...       the callers' series, each a contiguous run of values, oldest first (novelty.ts
;;                  allocates them); the value `back` lags behind the newest is 8 * back bytes below it.
;;
;; `push` visits the candidates in ascending lag order, as the scalar scan does: the last nearest
;; neighbour's successor (the hint) first, for a tight best from the start; then the shallow lags,
;; where only the shorter lengths fit, one at a time ($measure); then the lags where every length
;; fits, two at a time in SIMD ($pairs); then the deepest, one at a time again. An exact repeat of
;; the newest pattern (best 0) ends it: no candidate can be nearer.
;; In $pairs, lane 0 of a pair holds lag back + 1, lane 1 lag back. Eight lags (four pairs, four
;; accumulators) go at a time, so the additions of one candidate's squares, which must stay in
;; order, overlap with the other candidates' instead of waiting on each other; the last few pairs
;; go one at a time.
(module
  (memory (export "memory") 1)

  ;; Measures the candidate ending `back` lags behind the newest value (at byte `newest`),
  ;; lowering the bests where it is nearer; 1 when it lowered the longest length's. Lengths up to
  ;; min(back, filled - back) fit it. A candidate past its longest fitting length's best is past
  ;; every best it could lower (the bests grow with the length), so it is abandoned there.
  (func $measure (param $newest i32) (param $back i32) (param $filled i32) (param $nl i32) (result i32)
    (local $room i32) (local $top i32) (local $fit i32) (local $bound f64) (local $d2 f64) (local $d f64)
    (local $j i32) (local $k i32) (local $q i32) (local $at i32) (local $next i32)
    (local.set $room (i32.sub (local.get $filled) (local.get $back)))
    (if (i32.lt_s (local.get $back) (local.get $room)) (then (local.set $room (local.get $back))))
    (local.set $top (i32.sub (local.get $nl) (i32.const 1)))
    (block $fits
      (loop $shrink
        (br_if $fits (i32.le_s (i32.load (i32.shl (local.get $top) (i32.const 2))) (local.get $room)))
        (local.set $top (i32.sub (local.get $top) (i32.const 1)))
        (br $shrink)))
    (local.set $fit (i32.load (i32.shl (local.get $top) (i32.const 2))))
    (local.set $bound (f64.load offset=32 (i32.shl (local.get $top) (i32.const 3))))
    (local.set $q (local.get $newest))
    (local.set $at (i32.sub (local.get $newest) (i32.shl (local.get $back) (i32.const 3))))
    (local.set $next (i32.load (i32.const 0)))
    (block $done
      (loop $terms
        (br_if $done (i32.ge_s (local.get $k) (local.get $fit)))
        (br_if $done (i32.eqz (f64.lt (local.get $d2) (local.get $bound))))
        (local.set $d (f64.sub (f64.load (local.get $q)) (f64.load (local.get $at))))
        (local.set $d2 (f64.add (local.get $d2) (f64.mul (local.get $d) (local.get $d))))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        ;; A length ends here: keep the nearer. (The loop ends at the longest fitting length, so
        ;; the length read after it is never compared.)
        (if (i32.eq (local.get $k) (local.get $next))
          (then
            (if (f64.lt (local.get $d2) (f64.load offset=32 (i32.shl (local.get $j) (i32.const 3))))
              (then (f64.store offset=32 (i32.shl (local.get $j) (i32.const 3)) (local.get $d2))))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (local.set $next (i32.load (i32.shl (local.get $j) (i32.const 2))))))
        (local.set $q (i32.sub (local.get $q) (i32.const 8)))
        (local.set $at (i32.sub (local.get $at) (i32.const 8)))
        (br $terms)))
    (i32.and (i32.eq (local.get $top) (i32.sub (local.get $nl) (i32.const 1)))
             (f64.lt (local.get $d2) (local.get $bound))))

  ;; One new value's scan. `newest`: byte address of the newest value; `filled`: values held;
  ;; `capacity`: the deepest lag; `hint`: the lag measured first (skipped when out of range).
  ;; Writes the bests at 32; returns the lag of the longest length's nearest neighbour when some
  ;; candidate was strictly nearer than the hint, else -1.
  (func (export "push") (param $newest i32) (param $filled i32) (param $capacity i32) (param $hint i32) (param $nl i32) (result i32)
    (local $top i32) (local $topAt i32) (local $first i32) (local $longest i32) (local $last i32) (local $inner i32)
    (local $nearest i32) (local $back i32) (local $end i32) (local $pairedTo i32) (local $found i32) (local $j i32)
    (local.set $top (i32.sub (local.get $nl) (i32.const 1)))
    (local.set $topAt (i32.add (i32.const 32) (i32.shl (local.get $top) (i32.const 3))))
    (local.set $first (i32.load (i32.const 0)))
    (local.set $longest (i32.load (i32.shl (local.get $top) (i32.const 2))))
    (loop $clear
      (f64.store offset=32 (i32.shl (local.get $j) (i32.const 3)) (f64.const inf))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br_if $clear (i32.lt_s (local.get $j) (local.get $nl))))
    (local.set $nearest (i32.const -1))
    ;; last = min(capacity, filled - first), the deepest lag some length fits;
    ;; inner = min(last, filled - longest), the deepest where every length fits.
    (local.set $last (i32.sub (local.get $filled) (local.get $first)))
    (if (i32.lt_s (local.get $capacity) (local.get $last)) (then (local.set $last (local.get $capacity))))
    (local.set $inner (i32.sub (local.get $filled) (local.get $longest)))
    (if (i32.lt_s (local.get $last) (local.get $inner)) (then (local.set $inner (local.get $last))))
    (if (i32.and (i32.ge_s (local.get $hint) (local.get $first)) (i32.le_s (local.get $hint) (local.get $last)))
      (then (drop (call $measure (local.get $newest) (local.get $hint) (local.get $filled) (local.get $nl)))))
    ;; The shallow lags, below the longest length.
    (local.set $end (i32.add (local.get $inner) (i32.const 1)))
    (if (i32.lt_s (local.get $longest) (local.get $end)) (then (local.set $end (local.get $longest))))
    (local.set $back (local.get $first))
    (block $shallowDone
      (loop $shallow
        (br_if $shallowDone (i32.ge_s (local.get $back) (local.get $end)))
        (br_if $shallowDone (f64.eq (f64.load (local.get $topAt)) (f64.const 0)))
        (if (call $measure (local.get $newest) (local.get $back) (local.get $filled) (local.get $nl))
          (then (local.set $nearest (local.get $back))))
        (local.set $back (i32.add (local.get $back) (i32.const 1)))
        (br $shallow)))
    ;; Where every length fits: an even count of lags in pairs, an odd one out (the deepest) alone.
    (if (i32.and (f64.ne (f64.load (local.get $topAt)) (f64.const 0)) (i32.ge_s (local.get $inner) (local.get $longest)))
      (then
        (local.set $pairedTo (i32.sub (local.get $inner)
          (i32.rem_s (i32.add (i32.sub (local.get $inner) (local.get $longest)) (i32.const 1)) (i32.const 2))))
        (if (i32.gt_s (local.get $pairedTo) (local.get $longest))
          (then
            (local.set $found (call $pairs (local.get $newest) (local.get $longest) (local.get $pairedTo) (local.get $nl)))
            (if (i32.ge_s (local.get $found) (i32.const 0)) (then (local.set $nearest (local.get $found))))))
        (if (i32.lt_s (local.get $pairedTo) (local.get $inner))
          (then
            (if (call $measure (local.get $newest) (local.get $inner) (local.get $filled) (local.get $nl))
              (then (local.set $nearest (local.get $inner))))))))
    ;; The deepest lags, where the longest length no longer fits.
    (local.set $back (i32.add (local.get $inner) (i32.const 1)))
    (if (i32.lt_s (local.get $back) (local.get $first)) (then (local.set $back (local.get $first))))
    (block $deepDone
      (loop $deep
        (br_if $deepDone (i32.gt_s (local.get $back) (local.get $last)))
        (br_if $deepDone (f64.eq (f64.load (local.get $topAt)) (f64.const 0)))
        (if (call $measure (local.get $newest) (local.get $back) (local.get $filled) (local.get $nl))
          (then (local.set $nearest (local.get $back))))
        (local.set $back (i32.add (local.get $back) (i32.const 1)))
        (br $deep)))
    (local.get $nearest))

  ;; Lowers the bests by the lags lo .. hi (an even count, every length fitting each), two at a
  ;; time; returns the lag of the longest length's new best, the first of equally near lags, or
  ;; -1 when none was strictly nearer than that best already was.
  (func $pairs (param $newest i32) (param $lo i32) (param $hi i32) (param $nl i32) (result i32)
    (local $back i32) (local $p i32) (local $q i32) (local $k i32) (local $j i32) (local $end i32)
    (local $lastAt i32) (local $at i32) (local $v0 f64) (local $v1 f64) (local $lag0 i32) (local $lag1 i32)
    (local $acc v128) (local $d v128) (local $best v128) (local $idx v128) (local $mask v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128) (local $x v128) (local $lag v128)
    ;; Each lane starts from the scalar bests; no lane has a lag yet.
    (loop $splat
      (v128.store offset=64 (i32.shl (local.get $j) (i32.const 4))
        (f64x2.splat (f64.load offset=32 (i32.shl (local.get $j) (i32.const 3)))))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br_if $splat (i32.lt_s (local.get $j) (local.get $nl))))
    (local.set $lastAt (i32.add (i32.const 48) (i32.shl (local.get $nl) (i32.const 4))))
    (local.set $best (v128.load (local.get $lastAt)))
    (local.set $idx (v128.const i64x2 -1 -1))
    (local.set $back (local.get $lo))
    ;; ---- four pairs at a time: lags back .. back + 7
    (block $quadsDone
      (loop $quads
        (br_if $quadsDone (i32.gt_s (i32.add (local.get $back) (i32.const 7)) (local.get $hi)))
        ;; $p: the deepest pair (lags back + 6, back + 7); the shallower pairs sit 16, 32, 48 bytes above.
        (local.set $p (i32.sub (local.get $newest) (i32.shl (i32.add (local.get $back) (i32.const 7)) (i32.const 3))))
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
        (local.set $p (i32.sub (local.get $newest) (i32.shl (i32.add (local.get $back) (i32.const 1)) (i32.const 3))))
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
    (v128.store (i32.const 128) (local.get $idx))
    ;; Back to the scalar bests: the shorter lengths take the nearer lane; the longest takes the
    ;; lane whose lag an ascending scalar visit keeps (the first of equally near lags).
    (local.set $j (i32.const 0))
    (block $shorterDone
      (loop $shorter
        (br_if $shorterDone (i32.ge_s (local.get $j) (i32.sub (local.get $nl) (i32.const 1))))
        (f64.store offset=32 (i32.shl (local.get $j) (i32.const 3))
          (f64.min (f64.load offset=64 (i32.shl (local.get $j) (i32.const 4)))
                   (f64.load offset=72 (i32.shl (local.get $j) (i32.const 4)))))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $shorter)))
    ;; Lane 0 held the odd-offset lags (back + 1), lane 1 the even ones; a lag of -1 never got nearer.
    (local.set $v0 (f64.load (local.get $lastAt)))
    (local.set $v1 (f64.load offset=8 (local.get $lastAt)))
    (local.set $lag0 (i32.wrap_i64 (i64.load (i32.const 128))))
    (local.set $lag1 (i32.wrap_i64 (i64.load (i32.const 136))))
    (if (i32.and (i32.lt_s (local.get $lag0) (i32.const 0)) (i32.lt_s (local.get $lag1) (i32.const 0)))
      (then (return (i32.const -1))))
    (local.set $at (i32.add (i32.const 32) (i32.shl (i32.sub (local.get $nl) (i32.const 1)) (i32.const 3))))
    (if (i32.or (i32.lt_s (local.get $lag1) (i32.const 0))
          (i32.and (i32.ge_s (local.get $lag0) (i32.const 0))
            (i32.or (f64.lt (local.get $v0) (local.get $v1))
              (i32.and (f64.eq (local.get $v0) (local.get $v1)) (i32.lt_s (local.get $lag0) (local.get $lag1))))))
      (then
        (f64.store (local.get $at) (local.get $v0))
        (return (local.get $lag0))))
    (f64.store (local.get $at) (local.get $v1))
    (local.get $lag1)))
