(** The path decomposition of docs/semantics.md, proven over the reals for every model:
      logit t v = DIRECT[q, v] + sum_i a_i OV[t_i, i, v],
    hence  logit t m - logit t j  has the sign of  sum_i exp(s_i - T) C_i(m, j)  for any T. *)
From Coq Require Import Bool ZArith Reals List Lia Lra.
From Certify Require Import Semantics.
Open Scope R_scope.

Lemma sum_ext n f g : (forall i, (i < n)%nat -> f i = g i) -> sum n f = sum n g.
Proof.
  induction n as [|n IH]; intros H; simpl; [reflexivity|].
  rewrite IH by (intros; apply H; lia). rewrite H by lia. reflexivity.
Qed.

Lemma sum_plus n f g : sum n (fun i => f i + g i) = sum n f + sum n g.
Proof. induction n as [|n IH]; simpl; [ring|]. rewrite IH. ring. Qed.

Lemma sum_scale_l n a f : sum n (fun i => a * f i) = a * sum n f.
Proof. induction n as [|n IH]; simpl; [ring|]. rewrite IH. ring. Qed.

Lemma sum_scale_r n a f : sum n (fun i => f i * a) = sum n f * a.
Proof. induction n as [|n IH]; simpl; [ring|]. rewrite IH. ring. Qed.

Lemma sum_swap n m f : sum n (fun i => sum m (fun j => f i j)) = sum m (fun j => sum n (fun i => f i j)).
Proof.
  induction n as [|n IH]; simpl.
  - induction m as [|m IHm]; simpl; [reflexivity|]. rewrite <- IHm. ring.
  - rewrite IH, <- sum_plus. reflexivity.
Qed.

Lemma sum_le n f g : (forall i, (i < n)%nat -> f i <= g i) -> sum n f <= sum n g.
Proof.
  induction n as [|n IH]; intros H; simpl; [lra|].
  apply Rplus_le_compat; [apply IH; intros; apply H; lia | apply H; lia].
Qed.

Lemma sum_pos n f : (0 < n)%nat -> (forall i, (i < n)%nat -> 0 < f i) -> 0 < sum n f.
Proof.
  induction n as [|n IH]; intros Hn H; simpl; [lia|].
  destruct n as [|n'].
  - simpl. rewrite Rplus_0_l. apply H. lia.
  - apply Rplus_lt_0_compat; [apply IH; [lia|intros; apply H; lia] | apply H; lia].
Qed.

(** The paper's path terms (EUPU, EVOU + PVOU, EQKE + EQKP), with all biases. *)
Definition OU (M : model) (h v : nat) : R :=
  sum (d_model M) (fun c => entry (W_O M) h c * entry (W_U M) c v).
Definition OV (M : model) (x i v : nat) : R := sum (d_head M) (fun h => value M x i h * OU M h v).
Definition DIRECT (M : model) (x v : nat) : R :=
  sum (d_model M) (fun c => resid M x (K M - 1) c * entry (W_U M) c v)
  + sum (d_model M) (fun c => entry (b_O M) 0 c * entry (W_U M) c v) + entry (b_U M) 0 v.
Definition QK (M : model) (q x i : nat) : R := sum (d_head M) (fun h => query M q h * key M x i h).

Lemma score_QK M t i : score M t i = QK M (tok t (K M - 1)) (tok t i) i / sqrt (INR (d_head M)).
Proof. reflexivity. Qed.

Lemma logit_paths M t v :
  logit M t v = DIRECT M (tok t (K M - 1)) v + sum (K M) (fun i => attn M t i * OV M (tok t i) i v).
Proof.
  unfold logit, out, DIRECT.
  rewrite (sum_ext _ _ (fun c => (resid M (tok t (K M - 1)) (K M - 1) c * entry (W_U M) c v
      + entry (b_O M) 0 c * entry (W_U M) c v)
      + sum (d_head M) (fun h => mixed M t h * entry (W_O M) h c) * entry (W_U M) c v))
    by (intros; ring).
  rewrite sum_plus, sum_plus.
  assert (Hmix : sum (d_model M) (fun c => sum (d_head M) (fun h => mixed M t h * entry (W_O M) h c)
                   * entry (W_U M) c v)
                 = sum (K M) (fun i => attn M t i * OV M (tok t i) i v)).
  { rewrite (sum_ext _ _ (fun c => sum (d_head M) (fun h => mixed M t h * (entry (W_O M) h c * entry (W_U M) c v))))
      by (intros; rewrite <- sum_scale_r; apply sum_ext; intros; ring).
    rewrite sum_swap.
    rewrite (sum_ext _ _ (fun h => mixed M t h * OU M h v)) by (intros; unfold OU; rewrite sum_scale_l; reflexivity).
    unfold mixed, OV.
    rewrite (sum_ext _ _ (fun h => sum (K M) (fun i => attn M t i * (value M (tok t i) i h * OU M h v))))
      by (intros; rewrite <- sum_scale_r; apply sum_ext; intros; ring).
    rewrite sum_swap. apply sum_ext. intros. rewrite sum_scale_l. reflexivity. }
  rewrite Hmix. ring.
Qed.

(** The logit gap against j, per position: C_i(m, j). *)
Definition gap_term (M : model) (t : list nat) (m j i : nat) : R :=
  DIRECT M (tok t (K M - 1)) m - DIRECT M (tok t (K M - 1)) j
  + (OV M (tok t i) i m - OV M (tok t i) i j).

Lemma gap_sign M t m j T : (0 < K M)%nat -> (0 < d_head M)%nat ->
  0 < sum (K M) (fun i => exp ((QK M (tok t (K M - 1)) (tok t i) i - T) / sqrt (INR (d_head M)))
                        * gap_term M t m j i) ->
  logit M t m > logit M t j.
Proof.
  intros HK Hd H. set (Z := sum (K M) (fun l => exp (score M t l))).
  assert (HZ : 0 < Z) by (apply sum_pos; [exact HK | intros; apply exp_pos]).
  assert (Ha : sum (K M) (fun i => attn M t i) = 1).
  { unfold attn. unfold Rdiv. rewrite sum_scale_r. fold Z. field. lra. }
  assert (Hgap : logit M t m - logit M t j = sum (K M) (fun i => attn M t i * gap_term M t m j i)).
  { rewrite !logit_paths. unfold gap_term. symmetry.
    rewrite (sum_ext _ _ (fun i => (DIRECT M (tok t (K M - 1)) m - DIRECT M (tok t (K M - 1)) j) * attn M t i
               + attn M t i * OV M (tok t i) i m + -1 * (attn M t i * OV M (tok t i) i j))) by (intros; ring).
    rewrite !sum_plus, !sum_scale_l. unfold attn in Ha |- *. rewrite Ha. ring. }
  set (s := sqrt (INR (d_head M))).
  assert (Hexp : forall i, exp (score M t i)
      = exp ((QK M (tok t (K M - 1)) (tok t i) i - T) / s) * exp (T / s)).
  { intros i. rewrite <- exp_plus. f_equal. rewrite score_QK. fold s. field.
    apply Rgt_not_eq, sqrt_lt_R0, lt_0_INR. exact Hd. }
  assert (Hsum : sum (K M) (fun i => attn M t i * gap_term M t m j i)
      = exp (T / s) / Z * sum (K M) (fun i => exp ((QK M (tok t (K M - 1)) (tok t i) i - T) / s)
                                           * gap_term M t m j i)).
  { rewrite <- sum_scale_l. apply sum_ext. intros i _. unfold attn. fold Z. rewrite Hexp.
    field. lra. }
  assert (0 < exp (T / s) / Z) by (apply Rdiv_lt_0_compat; [apply exp_pos | exact HZ]).
  assert (0 < logit M t m - logit M t j); [|lra].
  rewrite Hgap, Hsum. apply Rmult_lt_0_compat; assumption.
Qed.
