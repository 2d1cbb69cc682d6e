(** Reassurance for a reader of Semantics.v (nothing here is needed by the proof):
    [inputs V n] has V^n elements and contains every list of length n over {0..V-1}, so it lists
    each input exactly once; [correct] says what docs/semantics.md says; and the count of a cubic
    case (Counting.v's [ncount] with e = 1) is the binomial C(K-1, c) times |S|^c. *)
From Coq Require Import Bool ZArith Reals List Lia.
From Certify Require Import Semantics Counting.
Import ListNotations.

Lemma extend_length V (ts : list (list nat)) :
  length (flat_map (fun t => map (fun x => x :: t) (seq 0 V)) ts) = (V * length ts)%nat.
Proof.
  induction ts as [|t ts IH]; simpl; [lia|].
  rewrite app_length, map_length, seq_length, IH. lia.
Qed.

Lemma inputs_length V n : length (inputs V n) = (V ^ n)%nat.
Proof.
  induction n as [|n IH]; simpl; [reflexivity|]. rewrite extend_length, IH. reflexivity.
Qed.

Lemma inputs_complete V t : Forall (fun x => (x < V)%nat) t -> In t (inputs V (length t)).
Proof.
  induction 1 as [|x t Hx _ IH]; simpl; [left; reflexivity|].
  apply in_flat_map. exists t. split; [exact IH|]. apply (in_map (fun y => y :: t)). apply in_seq. lia.
Qed.

Lemma correct_spec M t : correct M t = true <->
  forall j, (j < d_vocab M)%nat -> j <> answer t -> (logit M t (answer t) > logit M t j)%R.
Proof.
  unfold correct. rewrite forallb_forall. split.
  - intros H j Hj Hne. specialize (H j (proj2 (in_seq _ _ _) (conj (Nat.le_0_l j) Hj))).
    apply Nat.eqb_neq in Hne. rewrite Hne in H. simpl in H. unfold greater in H.
    destruct (Rgt_dec _ _); [assumption | discriminate].
  - intros H j Hj. apply in_seq in Hj. destruct (Nat.eqb j (answer t)) eqn:E; [reflexivity|].
    simpl. unfold greater. destruct (Rgt_dec _ _) as [|Hn]; [reflexivity|].
    exfalso. apply Hn, H; [lia | apply Nat.eqb_neq; exact E].
Qed.

(** Pascal's triangle: C(n, k). *)
Fixpoint binom (n k : nat) : Z :=
  match n with
  | O => match k with O => 1 | S _ => 0 end
  | S n' => match k with O => 1 | S k' => binom n' k' + binom n' k end
  end.

Lemma ncount_binom a n c : ncount a 1 n c = (binom n c * a ^ Z.of_nat c)%Z.
Proof.
  revert c. induction n as [|n IH]; intros [|c]; cbn [ncount binom ind Nat.eqb].
  - reflexivity.
  - lia.
  - rewrite IH. destruct n; cbn [binom]; lia.
  - rewrite !IH, Nat2Z.inj_succ, Z.pow_succ_r by lia. ring.
Qed.
