(** Brute force, proven once for every model: [brute_check k p M num den = true] implies
    num / den <= accuracy M. The check decides each input's gaps with exact dyadic sums of
    path terms times proven exp enclosures (k squarings at 2^-p), and counts in Z. *)
From Coq Require Import Bool ZArith Reals List Lia Lra.
From Certify Require Import Semantics Dyadic ExpBounds Paths Tables.
Import ListNotations.
Open Scope Z_scope.

Definition term_lo (c : D) (e : encl) : D := if Dnonneg c then Dmul c (e_lo e) else Dmul c (e_hi e).

Lemma term_lo_spec c e y : (D2R (e_lo e) <= y <= D2R (e_hi e))%R -> (D2R (term_lo c e) <= y * D2R c)%R.
Proof.
  intros [H1 H2]. unfold term_lo. destruct (Dnonneg c) eqn:Hc; rewrite D2R_mul.
  - apply Dnonneg_spec in Hc. rewrite (Rmult_comm y). apply Rmult_le_compat_l; assumption.
  - apply Dnonneg_false in Hc. rewrite (Rmult_comm y). apply Rmult_le_compat_neg_l; lra.
Qed.

(** C_i(m, j) as a dyadic, from the tables. *)
Definition dgap (tb : tables) (q m j x i : nat) : D :=
  Dadd (Dsub (get2 (t_direct tb) q m) (get2 (t_direct tb) q j))
       (Dsub (get3 (t_ov tb) x i m D0) (get3 (t_ov tb) x i j D0)).

Definition gap_ok (M : model) (tb : tables) (et : list (list (list encl))) (t : list nat) (m j : nat) : bool :=
  let q := tok t (K M - 1) in
  forallb (fun i => e_ok (get3 et q (tok t i) i encl0)) (seq 0 (K M)) &&
  Dpos (Dsum (K M) (fun i => term_lo (dgap tb q m j (tok t i) i) (get3 et q (tok t i) i encl0))).

Definition input_ok (M : model) (tb : tables) (et : list (list (list encl))) (t : list nat) : bool :=
  let m := answer t in
  forallb (fun j => Nat.eqb j m || gap_ok M tb et t m j) (seq 0 (d_vocab M)).

Lemma inputs_spec V n t : In t (inputs V n) -> length t = n /\ Forall (fun x => (x < V)%nat) t.
Proof.
  revert t. induction n as [|n IH]; intros t Ht; simpl in Ht.
  - destruct Ht as [<-|[]]. simpl. auto.
  - apply in_flat_map in Ht as [u [Hu Ht]]. apply in_map_iff in Ht as [x [<- Hx]].
    apply in_seq in Hx. destruct (IH u Hu) as [Hl Hf]. simpl. split; [lia|]. constructor; [lia|exact Hf].
Qed.

Lemma tok_lt V t i : Forall (fun x => (x < V)%nat) t -> (i < length t)%nat -> (tok t i < V)%nat.
Proof.
  intros Hf Hi. unfold tok. rewrite Forall_forall in Hf. apply Hf. apply nth_In. exact Hi.
Qed.

Lemma answer_lt V t : Forall (fun x => (x < V)%nat) t -> (0 < V)%nat -> (answer t < V)%nat.
Proof. induction 1; intros; simpl; [assumption|]. apply Nat.max_lub_lt; auto. Qed.

Lemma gap_ok_sound k p M t m j : (0 < K M)%nat -> (0 < d_head M)%nat ->
  length t = K M -> Forall (fun x => (x < d_vocab M)%nat) t ->
  (m < d_vocab M)%nat -> (j < d_vocab M)%nat ->
  gap_ok M (make_tables M) (exp_table k p M (make_tables M)) t m j = true ->
  (logit M t m > logit M t j)%R.
Proof.
  intros HK Hd Hl Hf Hm Hj H. unfold gap_ok in H. apply andb_true_iff in H as [Hok Hpos].
  rewrite forallb_forall in Hok. apply Dpos_spec in Hpos. rewrite D2R_sum in Hpos.
  set (q := tok t (K M - 1)) in *.
  assert (Hq : (q < d_vocab M)%nat) by (apply (tok_lt _ _ _ Hf); lia).
  apply (gap_sign M t m j (D2R (nth q (t_top (make_tables M)) D0)) HK Hd).
  eapply Rlt_le_trans; [exact Hpos|]. apply sum_le. intros i Hi.
  assert (Hx : (tok t i < d_vocab M)%nat) by (apply (tok_lt _ _ _ Hf); lia).
  assert (He := exp_table_spec k p M q (tok t i) i Hq Hx Hi Hd).
  simpl in He. specialize (He (Hok i ltac:(apply in_seq; lia))).
  assert (Hc : D2R (dgap (make_tables M) q m j (tok t i) i) = gap_term M t m j i).
  { unfold dgap, gap_term. rewrite D2R_add, !D2R_sub, !direct_spec, !ov_spec by assumption. reflexivity. }
  rewrite <- Hc. apply term_lo_spec. exact He.
Qed.

Lemma input_ok_sound k p M t : (0 < K M)%nat -> (0 < d_head M)%nat -> (0 < d_vocab M)%nat ->
  In t (inputs (d_vocab M) (K M)) ->
  input_ok M (make_tables M) (exp_table k p M (make_tables M)) t = true -> correct M t = true.
Proof.
  intros HK Hd HV Hin H. destruct (inputs_spec _ _ _ Hin) as [Hl Hf].
  unfold input_ok in H. unfold correct. rewrite forallb_forall in H |- *. intros j Hj.
  specialize (H j Hj). apply in_seq in Hj.
  destruct (Nat.eqb j (answer t)); simpl in *; [reflexivity|].
  unfold greater. destruct (Rgt_dec _ _) as [|Hn]; [reflexivity|]. exfalso. apply Hn.
  apply (gap_ok_sound k p M t); try assumption; [apply answer_lt; assumption | lia].
Qed.

(** Counting in Z (tail-recursive: the list may be long). *)
Definition countZ {A} (f : A -> bool) (l : list A) : Z :=
  fold_left (fun acc x => if f x then acc + 1 else acc) l 0.

Lemma countZ_length {A} (f : A -> bool) l : countZ f l = Z.of_nat (length (filter f l)).
Proof.
  unfold countZ. assert (H : forall acc, fold_left (fun acc x => if f x then acc + 1 else acc) l acc
                                         = acc + Z.of_nat (length (filter f l))).
  { induction l as [|x l IH]; intros acc; simpl; [lia|]. destruct (f x); rewrite IH; simpl; lia. }
  rewrite H. lia.
Qed.

Lemma filter_mono {A} (f g : A -> bool) l : (forall x, In x l -> f x = true -> g x = true) ->
  (length (filter f l) <= length (filter g l))%nat.
Proof.
  induction l as [|x l IH]; intros H; simpl; [lia|].
  assert (IH' := IH (fun y Hy => H y (or_intror Hy))).
  destruct (f x) eqn:Hfx; [rewrite (H x (or_introl eq_refl) Hfx); simpl; lia|].
  destruct (g x); simpl; lia.
Qed.

Lemma ratio_le (a b c d : R) : (0 < b)%R -> (0 < d)%R -> (a * d <= c * b)%R -> (a / b <= c / d)%R.
Proof.
  intros Hb Hd H. apply (Rmult_le_reg_r (b * d)); [apply Rmult_lt_0_compat; assumption|].
  replace (a / b * (b * d))%R with (a * d)%R by (field; lra).
  replace (c / d * (b * d))%R with (c * b)%R by (field; lra). exact H.
Qed.

Definition brute_check (k : nat) (p : Z) (M : model) (num den : Z) : bool :=
  let tb := make_tables M in
  let et := exp_table k p M tb in
  Nat.ltb 0 (K M) && Nat.ltb 0 (d_vocab M) && Nat.ltb 0 (d_head M) && (0 <? den) &&
  (num * Z.of_nat (d_vocab M) ^ Z.of_nat (K M) <=? countZ (input_ok M tb et) (inputs (d_vocab M) (K M)) * den).

(** Any sound per-input test gives a bound: the counting step of every rule. *)
Lemma count_bound (f : list nat -> bool) M num den :
  (forall t, In t (inputs (d_vocab M) (K M)) -> f t = true -> correct M t = true) ->
  Nat.ltb 0 (K M) && Nat.ltb 0 (d_vocab M) && (0 <? den) &&
  (num * Z.of_nat (d_vocab M) ^ Z.of_nat (K M) <=? countZ f (inputs (d_vocab M) (K M)) * den) = true ->
  (IZR num / IZR den <= accuracy M)%R.
Proof.
  intros Hf H. repeat rewrite andb_true_iff in H. destruct H as [[[HK HV] Hden] Hc].
  apply Nat.ltb_lt in HK, HV. apply Z.ltb_lt in Hden. apply Z.leb_le in Hc.
  rewrite countZ_length in Hc.
  assert (Hm := filter_mono _ _ (inputs (d_vocab M) (K M)) Hf).
  set (N := length (filter (correct M) (inputs (d_vocab M) (K M)))) in *.
  set (P := (d_vocab M ^ K M)%nat).
  assert (HP : Z.of_nat P = Z.of_nat (d_vocab M) ^ Z.of_nat (K M)) by (unfold P; apply Nat2Z.inj_pow).
  assert (HP0 : (0 < P)%nat) by (unfold P; apply Nat.neq_0_lt_0, Nat.pow_nonzero; lia).
  unfold accuracy. fold N P. apply ratio_le.
  - apply IZR_lt. exact Hden.
  - apply lt_0_INR. exact HP0.
  - rewrite !INR_IZR_INZ, <- !mult_IZR. apply IZR_le. rewrite HP.
    apply (Z.le_trans _ _ _ Hc). apply Z.mul_le_mono_nonneg_r; lia.
Qed.

Theorem brute_check_sound k p M num den : brute_check k p M num den = true -> (IZR num / IZR den <= accuracy M)%R.
Proof.
  unfold brute_check. intros H. repeat rewrite andb_true_iff in H.
  destruct H as [[[[HK HV] Hd] Hden] Hc].
  apply (count_bound (input_ok M (make_tables M) (exp_table k p M (make_tables M))) M num den).
  - intros t. apply input_ok_sound; apply Nat.ltb_lt; assumption.
  - rewrite HK, HV, Hden, Hc. reflexivity.
Qed.
