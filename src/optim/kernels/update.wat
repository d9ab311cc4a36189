;; The Adam/AdamW update over float32 buffers, two elements per SIMD step. Each element is widened
;; to float64, updated with the exact sequence of float64 operations of the scalar loop this replaced
;; (no fused multiply-add, same association; test/optim/adam.test.ts keeps that loop as its reference)
;; and rounded to float32 once per stored value, so results are bit-identical to it while the square
;; root and the division, which bound the loop, run two lanes at a time. Offsets are byte offsets into the imported
;; memory (one per slot arena, see adam-kernel.ts); `pairs` counts element pairs, so the caller pads
;; every buffer to an even length. The memory is shared: a helper thread runs this same kernel over other
;; elements of the same arena (adam-helper.ts).
;; After editing, regenerate update-wasm.ts: npx node test/optim/assemble-kernel.ts
(module
  (import "arena" "memory" (memory 1 65536 shared))

  ;; Adam/AdamW: g' = g + l2 p; m' = b1 m + c1 g'; v' = b2 v + (c2 g') g';
  ;; p' = p shrink - (step m') / (sqrt(v') invSqrtBias2 + eps).
  (func (export "adam") (param $p i32) (param $g i32) (param $m i32) (param $v i32) (param $pairs i32)
        (param $shrink f64) (param $l2 f64) (param $b1 f64) (param $c1 f64) (param $b2 f64) (param $c2 f64)
        (param $step f64) (param $invSqrtBias2 f64) (param $eps f64)
    (local $end i32) (local $P v128) (local $G v128) (local $M v128) (local $V v128)
    (local $Shrink v128) (local $L2 v128) (local $B1 v128) (local $C1 v128) (local $B2 v128) (local $C2 v128)
    (local $Step v128) (local $InvSqrtBias2 v128) (local $Eps v128)
    (local.set $Shrink (f64x2.splat (local.get $shrink)))
    (local.set $L2 (f64x2.splat (local.get $l2)))
    (local.set $B1 (f64x2.splat (local.get $b1)))
    (local.set $C1 (f64x2.splat (local.get $c1)))
    (local.set $B2 (f64x2.splat (local.get $b2)))
    (local.set $C2 (f64x2.splat (local.get $c2)))
    (local.set $Step (f64x2.splat (local.get $step)))
    (local.set $InvSqrtBias2 (f64x2.splat (local.get $invSqrtBias2)))
    (local.set $Eps (f64x2.splat (local.get $eps)))
    (local.set $end (i32.add (local.get $p) (i32.shl (local.get $pairs) (i32.const 3))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $P (f64x2.promote_low_f32x4 (v128.load64_zero (local.get $p))))
        (local.set $G (f64x2.add
          (f64x2.promote_low_f32x4 (v128.load64_zero (local.get $g)))
          (f64x2.mul (local.get $L2) (local.get $P))))
        (local.set $M (f64x2.add
          (f64x2.mul (local.get $B1) (f64x2.promote_low_f32x4 (v128.load64_zero (local.get $m))))
          (f64x2.mul (local.get $C1) (local.get $G))))
        (local.set $V (f64x2.add
          (f64x2.mul (local.get $B2) (f64x2.promote_low_f32x4 (v128.load64_zero (local.get $v))))
          (f64x2.mul (f64x2.mul (local.get $C2) (local.get $G)) (local.get $G))))
        (v128.store64_lane 0 (local.get $p) (f32x4.demote_f64x2_zero
          (f64x2.sub
            (f64x2.mul (local.get $P) (local.get $Shrink))
            (f64x2.div
              (f64x2.mul (local.get $Step) (local.get $M))
              (f64x2.add (f64x2.mul (f64x2.sqrt (local.get $V)) (local.get $InvSqrtBias2)) (local.get $Eps))))))
        (v128.store64_lane 0 (local.get $m) (f32x4.demote_f64x2_zero (local.get $M)))
        (v128.store64_lane 0 (local.get $v) (f32x4.demote_f64x2_zero (local.get $V)))
        (local.set $p (i32.add (local.get $p) (i32.const 8)))
        (local.set $g (i32.add (local.get $g) (i32.const 8)))
        (local.set $m (i32.add (local.get $m) (i32.const 8)))
        (local.set $v (i32.add (local.get $v) (i32.const 8)))
        (br $next))))

  ;; 1 when none of the `quads` x 4 float32 values at byte offset $x is NaN or +-Infinity (exponent bits all ones),
  ;; else 0.
  (func (export "finite") (param $x i32) (param $quads i32) (result i32)
    (local $end i32) (local $bad v128) (local $exponent v128)
    (local.set $exponent (i32x4.splat (i32.const 0x7f800000)))
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $quads) (i32.const 4))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $x) (local.get $end)))
        (local.set $bad (v128.or (local.get $bad)
          (i32x4.eq (v128.and (v128.load (local.get $x)) (local.get $exponent)) (local.get $exponent))))
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (br $next)))
    (i32.eqz (v128.any_true (local.get $bad))))
)
