(** Counting inputs without listing them, proven once for every predicate of the cubic rule's
    shape. [count_posok]: the inputs of length n+1 whose last token is q, whose first n tokens all
    satisfy P, and exactly c of which fail E, number [ncount a e n c], Pascal's recursion for
    C(n, c) a^c e^(n-c) (a, e the numbers of values with P and not E, P and E).
    [count_split]: a count is the sum of the counts of the classes of any key (the classes are
    disjoint and cover the list), which is how the cubic cases (q, m, c) add up. *)
From Coq Require Import Bool ZArith List Lia.
From Certify Require Import Semantics BruteForce.
Import ListNotations.
Open Scope Z_scope.

Fixpoint sumZ {A} (f : A -> Z) (l : list A) : Z := match l with [] => 0 | x :: r => f x + sumZ f r end.
Definition ind (b : bool) : Z := if b then 1 else 0.

(** Positions i < n where p fails (positions that do not hold the answer, in Cubic.v). *)
Fixpoint countn (n : nat) (p : nat -> bool) : nat :=
  match n with O => O | S n' => (countn n' p + (if p n' then 0 else 1))%nat end.

Fixpoint ncount (a e : Z) (n c : nat) : Z :=
  match n with
  | O => ind (Nat.eqb c 0)
  | S n' => e * ncount a e n' c + match c with O => 0 | S c' => a * ncount a e n' c' end
  end.

Lemma countZ_sumZ {A} (f : A -> bool) l : countZ f l = sumZ (fun x => ind (f x)) l.
Proof.
  rewrite countZ_length. induction l as [|x l IH]; simpl; [reflexivity|].
  unfold ind at 1. destruct (f x); cbn [length]; lia.
Qed.

Lemma sumZ_ext {A} (f g : A -> Z) l : (forall x, In x l -> f x = g x) -> sumZ f l = sumZ g l.
Proof. induction l as [|x l IH]; intros H; simpl; [reflexivity|]. rewrite H, IH; auto with datatypes. Qed.

Lemma sumZ_le {A} (f g : A -> Z) l : (forall x, In x l -> f x <= g x) -> sumZ f l <= sumZ g l.
Proof.
  induction l as [|x l IH]; intros H; simpl; [lia|].
  assert (f x <= g x) by auto with datatypes. assert (sumZ f l <= sumZ g l) by auto with datatypes. lia.
Qed.

Lemma sumZ_plus {A} (f g : A -> Z) l : sumZ (fun x => f x + g x) l = sumZ f l + sumZ g l.
Proof. induction l as [|x l IH]; simpl; lia. Qed.

Lemma sumZ_scale {A} (a : Z) (f : A -> Z) l : sumZ (fun x => a * f x) l = a * sumZ f l.
Proof. induction l as [|x l IH]; simpl; lia. Qed.

Lemma sumZ_zero {A} (l : list A) : sumZ (fun _ => 0) l = 0.
Proof. induction l as [|x l IH]; simpl; lia. Qed.

Lemma sumZ_ind_nonneg {A} (f : A -> bool) l : 0 <= sumZ (fun x => ind (f x)) l.
Proof. induction l as [|x l IH]; simpl; [lia|]. unfold ind at 1. destruct (f x); lia. Qed.

Lemma sumZ_app {A} (f : A -> Z) l1 l2 : sumZ f (l1 ++ l2) = sumZ f l1 + sumZ f l2.
Proof. induction l1 as [|x l IH]; simpl; lia. Qed.

Lemma sumZ_flat_map {A B} (f : B -> Z) (g : A -> list B) l :
  sumZ f (flat_map g l) = sumZ (fun x => sumZ f (g x)) l.
Proof. induction l as [|x l IH]; simpl; [reflexivity|]. rewrite sumZ_app, IH. reflexivity. Qed.

Lemma sumZ_map {A B} (f : B -> Z) (g : A -> B) l : sumZ f (map g l) = sumZ (fun x => f (g x)) l.
Proof. induction l as [|x l IH]; simpl; [reflexivity|]. rewrite IH. reflexivity. Qed.

Lemma sumZ_swap {A B} (f : A -> B -> Z) l1 l2 :
  sumZ (fun x => sumZ (fun y => f x y) l2) l1 = sumZ (fun y => sumZ (fun x => f x y) l1) l2.
Proof.
  induction l1 as [|x l1 IH]; simpl.
  - symmetry. apply sumZ_zero.
  - rewrite IH, <- sumZ_plus. reflexivity.
Qed.

(** Exactly one k in [s, s + n) equals g, if g lies there. *)
Lemma sumZ_eqb g s n : sumZ (fun k => ind (Nat.eqb g k)) (seq s n) = if (s <=? g)%nat && (g <? s + n)%nat then 1 else 0.
Proof.
  revert s. induction n as [|n IH]; intros s; simpl.
  - destruct (Nat.leb_spec s g), (Nat.ltb_spec g (s + 0)); simpl; lia.
  - rewrite IH. unfold ind. destruct (Nat.eqb_spec g s), (Nat.leb_spec s g), (Nat.ltb_spec g (s + S n)),
      (Nat.leb_spec (S s) g), (Nat.ltb_spec g (S s + n)); simpl; lia.
Qed.

Lemma count_split {A} (f : A -> bool) (g : A -> nat) n l : (forall t, In t l -> (g t < n)%nat) ->
  sumZ (fun t => ind (f t)) l = sumZ (fun k => sumZ (fun t => ind (f t && Nat.eqb (g t) k)) l) (seq 0 n).
Proof.
  intros H. rewrite sumZ_swap. apply sumZ_ext. intros t Ht.
  rewrite (sumZ_ext _ (fun k => ind (f t) * ind (Nat.eqb (g t) k)))
    by (intros k _; unfold ind; destruct (f t), (Nat.eqb (g t) k); reflexivity).
  rewrite sumZ_scale, sumZ_eqb. specialize (H t Ht).
  destruct (Nat.leb_spec 0 (g t)), (Nat.ltb_spec (g t) (0 + n)); simpl; lia.
Qed.

Lemma forallb_shift (f : nat -> bool) s n : forallb f (seq (S s) n) = forallb (fun i => f (S i)) (seq s n).
Proof. revert s. induction n as [|n IH]; intros s; simpl; [reflexivity|]. rewrite IH. reflexivity. Qed.

Lemma countn_shift n p : countn (S n) p = ((if p 0%nat then 0 else 1) + countn n (fun i => p (S i)))%nat.
Proof. induction n as [|n IH]; simpl in *; [lia|]. rewrite IH. lia. Qed.

Lemma countn_le n p : (countn n p <= n)%nat.
Proof. induction n as [|n IH]; simpl; [lia|]. destruct (p n); lia. Qed.

Lemma countn_lt n p : (countn n p < n)%nat -> exists i, (i < n)%nat /\ p i = true.
Proof.
  induction n as [|n IH]; simpl; intros H; [lia|]. destruct (p n) eqn:E.
  - exists n. split; [lia | exact E].
  - destruct IH as [i [Hi Hp]]; [lia|]. exists i. split; [lia | exact Hp].
Qed.

Definition posok (P E : nat -> bool) (q n c : nat) (t : list nat) : bool :=
  Nat.eqb (tok t n) q && forallb (fun i => P (tok t i)) (seq 0 n) && Nat.eqb (countn n (fun i => E (tok t i))) c.

Lemma posok_cons P E q n c x r : posok P E q (S n) c (x :: r) =
  P x && if E x then posok P E q n c r else match c with O => false | S c' => posok P E q n c' r end.
Proof.
  unfold posok. cbn [seq forallb]. rewrite forallb_shift, countn_shift. unfold tok; cbn [nth forallb].
  destruct (P x), (E x), c; simpl;
    destruct (Nat.eqb (nth n r 0%nat) q), (forallb (fun i => P (nth i r 0%nat)) (seq 0 n)); simpl; reflexivity.
Qed.

Lemma sumZ_branch (P E : nat -> bool) (b1 b2 : bool) l :
  sumZ (fun x => ind (P x && if E x then b1 else b2)) l
  = sumZ (fun x => ind (P x && E x)) l * ind b1 + sumZ (fun x => ind (P x && negb (E x))) l * ind b2.
Proof. induction l as [|x l IH]; simpl; [lia|]. rewrite IH. destruct (P x), (E x), b1, b2; cbn [andb negb ind]; lia. Qed.

Theorem count_posok V P E q n c : (q < V)%nat ->
  sumZ (fun t => ind (posok P E q n c t)) (inputs V (S n))
  = ncount (sumZ (fun x => ind (P x && negb (E x))) (seq 0 V)) (sumZ (fun x => ind (P x && E x)) (seq 0 V)) n c.
Proof.
  intros Hq. revert c. induction n as [|n IH]; intros c.
  - cbn [inputs flat_map]. rewrite app_nil_r, sumZ_map. unfold posok, tok; cbn [nth seq forallb countn].
    rewrite (sumZ_ext _ (fun x => ind (Nat.eqb q x) * ind (Nat.eqb 0 c)))
      by (intros x _; rewrite Nat.eqb_sym; unfold ind; destruct (Nat.eqb q x), (Nat.eqb 0 c); reflexivity).
    rewrite (sumZ_ext _ (fun x => ind (Nat.eqb 0 c) * ind (Nat.eqb q x))) by (intros; lia).
    rewrite sumZ_scale, sumZ_eqb. destruct (Nat.leb_spec 0 q), (Nat.ltb_spec q (0 + V)); [|lia..].
    simpl. destruct c; reflexivity.
  - change (inputs V (S (S n))) with (flat_map (fun t => map (fun x => x :: t) (seq 0 V)) (inputs V (S n))).
    rewrite sumZ_flat_map.
    rewrite (sumZ_ext _ (fun r => sumZ (fun x => ind (P x && E x)) (seq 0 V) * ind (posok P E q n c r)
       + sumZ (fun x => ind (P x && negb (E x))) (seq 0 V) * ind (match c with O => false | S c' => posok P E q n c' r end))).
    2: { intros r _. rewrite sumZ_map. rewrite (sumZ_ext _ _ _ (fun x _ => f_equal ind (posok_cons P E q n c x r))).
         apply sumZ_branch. }
    rewrite sumZ_plus, !sumZ_scale. cbn [ncount]. rewrite IH. destruct c as [|c].
    + rewrite sumZ_zero. lia.
    + rewrite IH. reflexivity.
Qed.

(** The a and e the cubic rule counts with, computed cheaply: P x = (x = m or (x < m and row x)). *)
Lemma sumZ_shift (f : nat -> Z) s n : sumZ f (seq (S s) n) = sumZ (fun i => f (S i)) (seq s n).
Proof. revert s. induction n as [|n IH]; intros s; simpl; [reflexivity|]. rewrite IH. reflexivity. Qed.

Lemma sumZ_below (row : list bool) m V : (m <= V)%nat ->
  sumZ (fun x => ind ((Nat.ltb x m) && nth x row false)) (seq 0 V) = sumZ ind (firstn m row).
Proof.
  revert row V. induction m as [|m IH]; intros row V HV.
  - rewrite (sumZ_ext _ (fun _ => 0)) by (intros x _; destruct x; reflexivity). apply sumZ_zero.
  - destruct V as [|V]; [lia|]. destruct row as [|b row].
    + simpl. rewrite sumZ_shift. rewrite (sumZ_ext _ (fun _ => 0)) by (intros x _; simpl; rewrite andb_false_r; reflexivity).
      rewrite sumZ_zero. reflexivity.
    + simpl seq. cbn [sumZ]. rewrite sumZ_shift. cbn [firstn sumZ]. rewrite <- (IH row V) by lia.
      reflexivity.
Qed.

Definition Pcase (m : nat) (row : list bool) (x : nat) : bool := Nat.eqb x m || (Nat.ltb x m && nth x row false).

Lemma count_case V q m n c row : (q < V)%nat -> (m < V)%nat ->
  sumZ (fun t => ind (posok (Pcase m row) (fun x => Nat.eqb x m) q n c t)) (inputs V (S n))
  = ncount (sumZ ind (firstn m row)) 1 n c.
Proof.
  intros Hq Hm. rewrite count_posok by exact Hq. f_equal.
  - rewrite <- (sumZ_below row m V) by lia. apply sumZ_ext. intros x _. unfold Pcase.
    destruct (Nat.eqb_spec x m), (Nat.ltb_spec x m); simpl; rewrite ?andb_true_r; [lia | reflexivity..].
  - rewrite (sumZ_ext _ (fun x => ind (Nat.eqb m x))), sumZ_eqb.
    + destruct (Nat.leb_spec 0 m), (Nat.ltb_spec m (0 + V)); simpl; lia.
    + intros x _. unfold Pcase. rewrite (Nat.eqb_sym m x). destruct (Nat.eqb x m); simpl; rewrite ?andb_false_r; reflexivity.
Qed.
