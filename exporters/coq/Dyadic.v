(** Exact dyadic numbers m * 2^e for the decision procedures, with their meaning in R.
    Every operation here is either exact (add, mul) or rounded in a stated direction, each with
    a lemma about its real value. Nothing in this file is part of the statement. *)
From Coq Require Import Bool ZArith Reals Lia Lra.
From Bignums Require Import BigZ.
From Certify Require Import Semantics.
Open Scope Z_scope.

(** Mantissas are Bignums' [bigZ] (machine-word digits, fast in vm_compute); [zm] is the
    mantissa as a [Z], and the [BigZ.spec_*] lemmas relate every operation to [Z]'s. *)
Record D := mkD { mant : bigZ; ex : Z }.
Definition zm (x : D) : Z := BigZ.to_Z (mant x).

Definition D2R (x : D) : R := (IZR (zm x) * powerRZ 2 (ex x))%R.

Definition D0 := mkD BigZ.zero 0.
Definition D1 := mkD BigZ.one 0.
Definition Dmul (x y : D) := mkD (BigZ.mul (mant x) (mant y)) (ex x + ex y).
Definition Dadd (x y : D) :=
  if ex x <=? ex y then mkD (BigZ.add (mant x) (BigZ.shiftl (mant y) (BigZ.of_Z (ex y - ex x)))) (ex x)
  else mkD (BigZ.add (BigZ.shiftl (mant x) (BigZ.of_Z (ex x - ex y))) (mant y)) (ex y).
Definition Dopp (x : D) := mkD (BigZ.opp (mant x)) (ex x).
Definition Dsub (x y : D) := Dadd x (Dopp y).
Definition Dabs (x : D) := mkD (BigZ.abs (mant x)) (ex x).
Definition Dpos (x : D) : bool := BigZ.ltb BigZ.zero (mant x).
Definition Dnonneg (x : D) : bool := BigZ.leb BigZ.zero (mant x).
Definition Dle (x y : D) : bool := Dnonneg (Dsub y x).
Definition Dlt (x y : D) : bool := Dpos (Dsub y x).
Definition Dmax (x y : D) := if Dle x y then y else x.
Fixpoint Dsum (n : nat) (f : nat -> D) : D :=
  match n with O => D0 | S n' => Dadd (Dsum n' f) (f n') end.

(** Round down / up to a multiple of 2^-p. *)
Definition Dfloor (p : Z) (x : D) :=
  if - p <=? ex x then x else mkD (BigZ.shiftr (mant x) (BigZ.of_Z (- p - ex x))) (- p).
Definition Dceil (p : Z) (x : D) := Dopp (Dfloor p (Dopp x)).
(** Round down to p significant bits (any right shift s >= 0 of the mantissa rounds down). *)
Definition Dshr (s : Z) (x : D) := mkD (BigZ.shiftr (mant x) (BigZ.of_Z s)) (ex x + s).
Definition Dfloor_rel (p : Z) (x : D) :=
  Dshr (Z.max 0 (BigZ.to_Z (BigZ.log2 (BigZ.abs (mant x))) + 1 - p)) x.

Lemma zm_mul x y : zm (Dmul x y) = zm x * zm y.
Proof. apply BigZ.spec_mul. Qed.
Lemma zm_opp x : zm (Dopp x) = - zm x.
Proof. apply BigZ.spec_opp. Qed.
Lemma zm_abs x : zm (Dabs x) = Z.abs (zm x).
Proof. apply BigZ.spec_abs. Qed.
Lemma zm_shiftl m s : BigZ.to_Z (BigZ.shiftl m (BigZ.of_Z s)) = Z.shiftl (BigZ.to_Z m) s.
Proof. rewrite BigZ.spec_shiftl, BigZ.spec_of_Z. reflexivity. Qed.
Lemma zm_shiftr m s : BigZ.to_Z (BigZ.shiftr m (BigZ.of_Z s)) = Z.shiftr (BigZ.to_Z m) s.
Proof. rewrite BigZ.spec_shiftr, BigZ.spec_of_Z. reflexivity. Qed.
Lemma Dpos_zm x : Dpos x = (0 <? zm x).
Proof. unfold Dpos. rewrite BigZ.spec_ltb, BigZ.spec_0. reflexivity. Qed.
Lemma Dnonneg_zm x : Dnonneg x = (0 <=? zm x).
Proof. unfold Dnonneg. rewrite BigZ.spec_leb, BigZ.spec_0. reflexivity. Qed.

Lemma two_neq0 : (2 <> 0)%R.
Proof. lra. Qed.

Lemma IZR_pow2 (n : Z) : 0 <= n -> IZR (2 ^ n) = powerRZ 2 n.
Proof.
  intros Hn. rewrite <- (Z2Nat.id n Hn) at 1 2.
  rewrite <- pow_IZR, pow_powerRZ. reflexivity.
Qed.

Lemma D2R_mul x y : D2R (Dmul x y) = (D2R x * D2R y)%R.
Proof.
  unfold D2R. rewrite zm_mul. unfold Dmul; simpl. rewrite mult_IZR, powerRZ_add by exact two_neq0. ring.
Qed.

Lemma D2R_add x y : D2R (Dadd x y) = (D2R x + D2R y)%R.
Proof.
  unfold D2R, Dadd, zm. destruct (Z.leb_spec (ex x) (ex y)); simpl; rewrite BigZ.spec_add, zm_shiftl.
  - rewrite plus_IZR, Z.shiftl_mul_pow2, mult_IZR, IZR_pow2 by lia.
    replace (ex y) with ((ex y - ex x) + ex x) at 2 by ring.
    rewrite powerRZ_add by exact two_neq0. ring.
  - rewrite plus_IZR, Z.shiftl_mul_pow2, mult_IZR, IZR_pow2 by lia.
    replace (ex x) with ((ex x - ex y) + ex y) at 2 by ring.
    rewrite powerRZ_add by exact two_neq0. ring.
Qed.

Lemma D2R_opp x : D2R (Dopp x) = (- D2R x)%R.
Proof. unfold D2R. rewrite zm_opp. unfold Dopp; simpl. rewrite opp_IZR. ring. Qed.

Lemma D2R_sub x y : D2R (Dsub x y) = (D2R x - D2R y)%R.
Proof. unfold Dsub. rewrite D2R_add, D2R_opp. ring. Qed.

Lemma D2R_abs x : D2R (Dabs x) = Rabs (D2R x).
Proof.
  unfold D2R. rewrite zm_abs. unfold Dabs; simpl. rewrite Rabs_mult, (Rabs_right (powerRZ 2 (ex x))).
  - rewrite abs_IZR. reflexivity.
  - apply Rle_ge, powerRZ_le; lra.
Qed.

Lemma D2R_sum n f : D2R (Dsum n f) = sum n (fun i => D2R (f i)).
Proof.
  induction n as [|n IH]; simpl.
  - change (D2R D0 = 0%R). unfold D2R, zm, D0; cbn [mant ex]. rewrite BigZ.spec_0. ring.
  - rewrite D2R_add, IH. reflexivity.
Qed.

Lemma D2R_sign x : ((0 < D2R x)%R <-> 0 < zm x) /\ ((0 <= D2R x)%R <-> 0 <= zm x).
Proof.
  unfold D2R. assert (H := powerRZ_lt 2 (ex x) ltac:(lra)). split; split; intros Hx.
  - apply lt_IZR. destruct (Rle_or_lt (IZR (zm x)) 0); [|assumption].
    exfalso. assert (IZR (zm x) * powerRZ 2 (ex x) <= 0)%R; [|lra].
    rewrite <- (Rmult_0_l (powerRZ 2 (ex x))). apply Rmult_le_compat_r; lra.
  - apply Rmult_lt_0_compat; [apply IZR_lt|]; assumption.
  - apply le_IZR. destruct (Rle_or_lt 0 (IZR (zm x))); [assumption|].
    exfalso. assert (IZR (zm x) * powerRZ 2 (ex x) < 0)%R; [|lra].
    rewrite <- (Rmult_0_l (powerRZ 2 (ex x))). apply Rmult_lt_compat_r; lra.
  - apply Rmult_le_pos; [apply IZR_le|lra]; assumption.
Qed.

Lemma Dpos_spec x : Dpos x = true -> (0 < D2R x)%R.
Proof. rewrite Dpos_zm. intros H. apply D2R_sign. apply Z.ltb_lt. exact H. Qed.

Lemma Dnonneg_spec x : Dnonneg x = true -> (0 <= D2R x)%R.
Proof. rewrite Dnonneg_zm. intros H. apply D2R_sign. apply Z.leb_le. exact H. Qed.

Lemma Dnonneg_false x : Dnonneg x = false -> (D2R x < 0)%R.
Proof.
  rewrite Dnonneg_zm. intros H. apply Z.leb_gt in H.
  destruct (Rlt_or_le (D2R x) 0) as [|H']; [assumption|].
  apply D2R_sign in H'. lia.
Qed.

Lemma Dle_spec x y : Dle x y = true -> (D2R x <= D2R y)%R.
Proof. unfold Dle. intros H. apply Dnonneg_spec in H. rewrite D2R_sub in H. lra. Qed.

Lemma Dlt_spec x y : Dlt x y = true -> (D2R x < D2R y)%R.
Proof. unfold Dlt. intros H. apply Dpos_spec in H. rewrite D2R_sub in H. lra. Qed.

Lemma Dfloor_le p x : (D2R (Dfloor p x) <= D2R x)%R.
Proof.
  unfold Dfloor. destruct (Z.leb_spec (- p) (ex x)); [apply Rle_refl|].
  unfold D2R, zm; simpl. rewrite zm_shiftr, Z.shiftr_div_pow2 by lia.
  set (s := - p - ex x). set (a := BigZ.to_Z (mant x)).
  assert (Hs : 0 <= s) by (unfold s; lia).
  assert (Hdiv : 2 ^ s * (a / 2 ^ s) <= a) by (apply Z.mul_div_le; apply Z.pow_pos_nonneg; lia).
  replace (ex x) with (- s + - p) by (unfold s; ring).
  rewrite powerRZ_add by exact two_neq0.
  assert (H2 : (0 < powerRZ 2 (- p))%R) by (apply powerRZ_lt; lra).
  assert (H3 : (0 < powerRZ 2 s)%R) by (apply powerRZ_lt; lra).
  rewrite <- Rmult_assoc. apply Rmult_le_compat_r; [lra|].
  rewrite powerRZ_neg'. apply (Rmult_le_reg_r (powerRZ 2 s)); [exact H3|].
  rewrite Rmult_assoc, Rinv_l, Rmult_1_r by lra.
  rewrite <- IZR_pow2 by exact Hs. rewrite <- mult_IZR. apply IZR_le. lia.
Qed.

Lemma Dfloor_nonneg p x : (0 <= D2R x)%R -> (0 <= D2R (Dfloor p x))%R.
Proof.
  intros H. apply D2R_sign in H. apply D2R_sign. unfold Dfloor.
  destruct (Z.leb_spec (- p) (ex x)); simpl; [assumption|].
  unfold zm in *; simpl. rewrite zm_shiftr, Z.shiftr_div_pow2 by lia. apply Z.div_pos; [assumption|].
  apply Z.pow_pos_nonneg; lia.
Qed.

Lemma Dceil_ge p x : (D2R x <= D2R (Dceil p x))%R.
Proof.
  unfold Dceil. rewrite D2R_opp. assert (H := Dfloor_le p (Dopp x)). rewrite D2R_opp in H. lra.
Qed.

Lemma Dshr_le s x : 0 <= s -> (D2R (Dshr s x) <= D2R x)%R.
Proof.
  intros Hs. unfold D2R, zm, Dshr; simpl. rewrite zm_shiftr, Z.shiftr_div_pow2 by lia.
  set (a := BigZ.to_Z (mant x)).
  assert (Hdiv : 2 ^ s * (a / 2 ^ s) <= a) by (apply Z.mul_div_le; apply Z.pow_pos_nonneg; lia).
  rewrite powerRZ_add by exact two_neq0.
  assert (H2 : (0 < powerRZ 2 (ex x))%R) by (apply powerRZ_lt; lra).
  replace (IZR (a / 2 ^ s) * (powerRZ 2 (ex x) * powerRZ 2 s))%R
    with (IZR (a / 2 ^ s) * powerRZ 2 s * powerRZ 2 (ex x))%R by ring.
  apply Rmult_le_compat_r; [lra|].
  rewrite <- IZR_pow2 by exact Hs. rewrite <- mult_IZR. apply IZR_le. lia.
Qed.

Lemma Dshr_nonneg s x : 0 <= s -> (0 <= D2R x)%R -> (0 <= D2R (Dshr s x))%R.
Proof.
  intros Hs H. apply D2R_sign in H. apply D2R_sign. unfold zm, Dshr in *; simpl.
  rewrite zm_shiftr, Z.shiftr_div_pow2 by lia. apply Z.div_pos; [assumption|].
  apply Z.pow_pos_nonneg; lia.
Qed.

Lemma Dfloor_rel_le p x : (D2R (Dfloor_rel p x) <= D2R x)%R.
Proof. apply Dshr_le. lia. Qed.

Lemma Dfloor_rel_nonneg p x : (0 <= D2R x)%R -> (0 <= D2R (Dfloor_rel p x))%R.
Proof. apply Dshr_nonneg. lia. Qed.
