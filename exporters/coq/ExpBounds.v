(** Proven rational enclosures of exp(r / sqrt d) for a dyadic r and a natural d > 0.
    The only analytic facts used are the standard library's  1 + x <= exp x,  exp (x + y) =
    exp x * exp y,  exp (-x) = / exp x  and that exp is increasing:
      exp x >= (1 + x / 2^k)^(2^k)  (k squarings, each rounded down, of a non-negative start),
      exp x = / exp (-x) <= / lower(-x)  (rounded up),
    (each squaring keeps p significant bits, so small values keep their relative precision),
    and r / sqrt d is enclosed by dyadics L, H with L^2 d <= r^2 <= H^2 d, checked exactly. *)
From Coq Require Import Bool ZArith Reals Lia Lra.
From Bignums Require Import BigZ.
From Certify Require Import Semantics Dyadic.
Open Scope Z_scope.

Definition Dshift (x : D) (k : Z) := mkD (mant x) (ex x + k).

Lemma D2R_shift x k : D2R (Dshift x k) = (D2R x * powerRZ 2 k)%R.
Proof. unfold D2R, zm, Dshift; simpl. rewrite powerRZ_add by exact two_neq0. ring. Qed.

Lemma exp_le_mono (x y : R) : (x <= y)%R -> (exp x <= exp y)%R.
Proof.
  intros H. destruct (Rle_lt_or_eq_dec _ _ H) as [Hlt|Heq].
  - left. apply exp_increasing. exact Hlt.
  - rewrite Heq. apply Rle_refl.
Qed.

Fixpoint sq_iter (p : Z) (n : nat) (y : D) : D :=
  match n with O => y | S n' => sq_iter p n' (Dfloor_rel p (Dmul y y)) end.

Lemma sq_iter_spec p n : forall y z, (0 <= D2R y <= exp z)%R ->
  (0 <= D2R (sq_iter p n y) <= exp (z * powerRZ 2 (Z.of_nat n)))%R.
Proof.
  induction n as [|n IH]; intros y z [H0 H1]; cbn [sq_iter].
  - simpl. rewrite Rmult_1_r. lra.
  - assert (Hsq : (0 <= D2R (Dfloor_rel p (Dmul y y)) <= exp (z * 2))%R).
    { split.
      - apply Dfloor_rel_nonneg. rewrite D2R_mul. apply Rmult_le_pos; lra.
      - apply (Rle_trans _ (D2R (Dmul y y))); [apply Dfloor_rel_le|].
        rewrite D2R_mul. replace (z * 2)%R with (z + z)%R by ring. rewrite exp_plus.
        apply Rmult_le_compat; lra. }
    specialize (IH _ _ Hsq).
    replace (z * powerRZ 2 (Z.of_nat (S n)))%R with (z * 2 * powerRZ 2 (Z.of_nat n))%R; [exact IH|].
    rewrite Nat2Z.inj_succ, <- Z.add_1_r, powerRZ_add by exact two_neq0. simpl. ring.
Qed.

(** A lower bound of exp x. *)
Definition exp_lo (k : nat) (p : Z) (x : D) : D :=
  let y := Dfloor p (Dadd D1 (Dshift x (- Z.of_nat k))) in
  sq_iter p k (if Dnonneg y then y else D0).

Lemma exp_lo_spec k p x : (0 <= D2R (exp_lo k p x) <= exp (D2R x))%R.
Proof.
  unfold exp_lo. set (z := (D2R x * powerRZ 2 (- Z.of_nat k))%R).
  assert (Hz : (0 <= D2R (if Dnonneg (Dfloor p (Dadd D1 (Dshift x (- Z.of_nat k)))) then
            Dfloor p (Dadd D1 (Dshift x (- Z.of_nat k))) else D0) <= exp z)%R).
  { destruct (Dnonneg _) eqn:Hn.
    - split; [apply Dnonneg_spec; exact Hn|].
      apply (Rle_trans _ _ _ (Dfloor_le _ _)). rewrite D2R_add, D2R_shift.
      unfold D1, D2R at 1, zm; cbn [mant ex]. rewrite BigZ.spec_1, Rmult_1_l. apply exp_ineq1_le.
    - unfold D0, D2R, zm; cbn [mant ex]. rewrite BigZ.spec_0, Rmult_0_l. split; [lra|]. left. apply exp_pos. }
  apply sq_iter_spec with (n := k) (p := p) in Hz.
  replace (z * powerRZ 2 (Z.of_nat k))%R with (D2R x) in Hz; [exact Hz|].
  unfold z. rewrite Rmult_assoc, <- powerRZ_add by exact two_neq0.
  replace (- Z.of_nat k + Z.of_nat k) with 0 by ring. simpl. ring.
Qed.

(** An upper bound of / y for y > 0, a multiple of 2^-max(p, ex y). *)
Definition Dinv_up (p : Z) (y : D) : D :=
  let s := Z.max p (ex y) in
  mkD (BigZ.add (BigZ.div (BigZ.pow BigZ.two (BigZ.of_Z (s - ex y))) (mant y)) BigZ.one) (- s).

Lemma Dinv_up_spec p y : (0 < D2R y)%R -> (/ D2R y <= D2R (Dinv_up p y))%R.
Proof.
  intros Hy. assert (Hm : 0 < zm y) by (apply D2R_sign; exact Hy).
  set (s := Z.max p (ex y)). set (e := ex y). set (m := zm y).
  set (c := 2 ^ (s - e) / m + 1).
  assert (Hse : 0 <= s - e) by (unfold s, e; lia).
  assert (HN : 2 ^ (s - e) < m * c) by (unfold c; rewrite Z.add_1_r; apply Z.mul_succ_div_gt; lia).
  assert (Hz : zm (Dinv_up p y) = c).
  { unfold Dinv_up, zm; cbn [mant].
    rewrite BigZ.spec_add, BigZ.spec_div, BigZ.spec_pow, BigZ.spec_of_Z, BigZ.spec_1, BigZ.spec_2.
    reflexivity. }
  assert (He : ex (Dinv_up p y) = - s) by reflexivity.
  apply (Rmult_le_reg_l (D2R y)); [exact Hy|]. rewrite Rinv_r by lra.
  unfold D2R. rewrite Hz, He. fold e m.
  replace (IZR m * powerRZ 2 e * (IZR c * powerRZ 2 (- s)))%R
    with (IZR (m * c) * powerRZ 2 (e + - s))%R
    by (rewrite mult_IZR, powerRZ_add by exact two_neq0; ring).
  assert (H1 : (1 = powerRZ 2 (s - e) * powerRZ 2 (e + - s))%R).
  { rewrite <- powerRZ_add by exact two_neq0. replace (s - e + (e + - s)) with 0 by ring. reflexivity. }
  rewrite H1. apply Rmult_le_compat_r; [apply powerRZ_le; lra|].
  rewrite <- IZR_pow2 by exact Hse. apply IZR_le. lia.
Qed.

(** An upper bound of exp x, valid when [Dpos (exp_lo k p (Dopp x))]. *)
Definition exp_hi (k : nat) (p : Z) (x : D) : D := Dinv_up p (exp_lo k p (Dopp x)).

Lemma exp_hi_spec k p x : Dpos (exp_lo k p (Dopp x)) = true -> (exp (D2R x) <= D2R (exp_hi k p x))%R.
Proof.
  intros Hp. apply Dpos_spec in Hp. unfold exp_hi.
  apply (Rle_trans _ (/ D2R (exp_lo k p (Dopp x)))); [|apply Dinv_up_spec; exact Hp].
  replace (D2R x) with (- - D2R x)%R by ring. rewrite exp_Ropp.
  apply Rinv_le_contravar; [exact Hp|]. rewrite <- D2R_opp. apply exp_lo_spec.
Qed.

(** Enclosures of a / sqrt d for a >= 0: floor and floor + 1 at 2^-p, checked by [sq_ok]. *)
Definition Dnat (d : nat) := mkD (BigZ.of_Z (Z.of_nat d)) 0.

(* floor(a 2^p / sqrt d): only a candidate, [sq_ok] checks it *)
Definition sqrt_cand (p : Z) (d : nat) (a : D) : bigZ :=
  let s := 2 * (ex a + p) in
  let a2 := BigZ.mul (mant a) (mant a) in
  let dd := BigZ.of_Z (Z.of_nat d) in
  if 0 <=? s then BigZ.sqrt (BigZ.div (BigZ.shiftl a2 (BigZ.of_Z s)) dd)
  else BigZ.sqrt (BigZ.div a2 (BigZ.shiftl dd (BigZ.of_Z (- s)))).

Definition sq_ok (d : nat) (lo hi a : D) : bool :=
  Dnonneg lo && Dle (Dmul (Dmul lo lo) (Dnat d)) (Dmul a a)
  && Dnonneg hi && Dle (Dmul a a) (Dmul (Dmul hi hi) (Dnat d)).

Lemma D2R_nat d : D2R (Dnat d) = INR d.
Proof. unfold D2R, zm, Dnat; simpl. rewrite BigZ.spec_of_Z, Rmult_1_r, INR_IZR_INZ. reflexivity. Qed.

Lemma sqrt_lower (L A d : R) : (0 <= L)%R -> (0 <= A)%R -> (0 < d)%R -> (L * L * d <= A * A)%R ->
  (L <= A / sqrt d)%R.
Proof.
  intros HL HA Hd H. assert (Hs : (0 < sqrt d)%R) by (apply sqrt_lt_R0; exact Hd).
  apply (Rmult_le_reg_r (sqrt d)); [exact Hs|]. unfold Rdiv. rewrite Rmult_assoc, Rinv_l, Rmult_1_r by lra.
  rewrite <- (sqrt_square L HL) at 1. rewrite <- sqrt_mult by (try apply Rmult_le_pos; lra).
  rewrite <- (sqrt_square A HA). apply sqrt_le_1_alt. exact H.
Qed.

Lemma sqrt_upper (H A d : R) : (0 <= H)%R -> (0 <= A)%R -> (0 < d)%R -> (A * A <= H * H * d)%R ->
  (A / sqrt d <= H)%R.
Proof.
  intros HH HA Hd Hle. assert (Hs : (0 < sqrt d)%R) by (apply sqrt_lt_R0; exact Hd).
  apply (Rmult_le_reg_r (sqrt d)); [exact Hs|]. unfold Rdiv. rewrite Rmult_assoc, Rinv_l, Rmult_1_r by lra.
  rewrite <- (sqrt_square A HA) at 1. rewrite <- (sqrt_square H HH).
  rewrite <- sqrt_mult by (try apply Rmult_le_pos; lra). apply sqrt_le_1_alt. exact Hle.
Qed.

(** lower and upper bounds of exp (r / sqrt d), and whether they are established. *)
Record encl := { e_lo : D; e_hi : D; e_ok : bool }.

Definition exp_encl (k : nat) (p : Z) (d : nat) (r : D) : encl :=
  let a := Dabs r in
  let L := mkD (sqrt_cand p d a) (- p) in
  let H := mkD (BigZ.add (sqrt_cand p d a) BigZ.one) (- p) in
  let ok := sq_ok d L H a in
  (* u := the lower bound whose inverse is the upper bound, computed once *)
  if Dnonneg r
  then let u := exp_lo k p (Dopp H) in
       {| e_lo := exp_lo k p L; e_hi := Dinv_up p u; e_ok := ok && Dpos u |}
  else let u := exp_lo k p (Dopp (Dopp L)) in
       {| e_lo := exp_lo k p (Dopp H); e_hi := Dinv_up p u; e_ok := ok && Dpos u |}.

Lemma exp_encl_spec k p d r : (0 < d)%nat -> e_ok (exp_encl k p d r) = true ->
  (D2R (e_lo (exp_encl k p d r)) <= exp (D2R r / sqrt (INR d)) <= D2R (e_hi (exp_encl k p d r)))%R.
Proof.
  intros Hd. unfold exp_encl.
  set (a := Dabs r). set (L := mkD (sqrt_cand p d a) (- p)). set (H := mkD (BigZ.add (sqrt_cand p d a) BigZ.one) (- p)).
  assert (Hd' : (0 < INR d)%R) by (apply lt_0_INR; exact Hd).
  assert (Ha : D2R a = Rabs (D2R r)) by apply D2R_abs.
  intros Hok.
  assert (Hb : sq_ok d L H a = true) by (destruct (Dnonneg r); simpl in Hok; apply andb_true_iff in Hok; tauto).
  unfold sq_ok in Hb. apply andb_true_iff in Hb as [Hb H4]. apply andb_true_iff in Hb as [Hb H3].
  apply andb_true_iff in Hb as [H1 H2].
  apply Dnonneg_spec in H1. apply Dle_spec in H2. apply Dnonneg_spec in H3. apply Dle_spec in H4.
  rewrite !D2R_mul, D2R_nat in H2, H4.
  assert (HA : (0 <= D2R a)%R) by (rewrite Ha; apply Rabs_pos).
  assert (HLo := sqrt_lower _ _ _ H1 HA Hd' H2).
  assert (HHi := sqrt_upper _ _ _ H3 HA Hd' H4).
  destruct (Dnonneg r) eqn:Hr; cbv zeta in Hok |- *; simpl in Hok |- *; apply andb_true_iff in Hok as [_ Hpos].
  - apply Dnonneg_spec in Hr. rewrite Ha, Rabs_right in HLo, HHi by lra. split.
    + apply (Rle_trans _ (exp (D2R L))); [apply exp_lo_spec|]. apply exp_le_mono. exact HLo.
    + apply (Rle_trans _ (exp (D2R H))); [apply exp_le_mono; exact HHi|]. apply exp_hi_spec. exact Hpos.
  - apply Dnonneg_false in Hr. rewrite Ha, Rabs_left in HLo, HHi by lra. split.
    + apply (Rle_trans _ (exp (D2R (Dopp H)))); [apply exp_lo_spec|]. apply exp_le_mono.
      rewrite D2R_opp. unfold Rdiv in *. lra.
    + apply (Rle_trans _ (exp (D2R (Dopp L)))); [|apply exp_hi_spec; exact Hpos].
      apply exp_le_mono. rewrite D2R_opp. unfold Rdiv in *. lra.
Qed.
