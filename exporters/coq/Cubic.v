(** The cubic rule (docs/soundness.md, "Cubic rule"), proven once for every model, and its
    decision. For query q, answer m and the set G of non-query positions holding m (c positions
    hold smaller values x), for every j <> m:
      sum_i e_i C_i(m, j) >= good * W(G) - qpen - sum_{i not in G} P(t_i)
    with good = min C over the positions that may hold m, W(G) >= W_min(c) (the least such sum over
    all G with c non-max positions), P(x) = max_i e(q, x, i) pen(x, i); so if
    good * W_min(c) - qpen - c P(x) > 0 for every x in S(q, m, c), every input whose non-max values
    lie in S is correct. Here every such x < m is tried, and the inputs are then counted. *)
From Coq Require Import Bool ZArith Reals List Lia Lra.
From Bignums Require Import BigZ.
From Certify Require Import Semantics Dyadic ExpBounds Paths Tables BruteForce Counting.
Import ListNotations.
Open Scope Z_scope.

(** Largest and smallest element of a dyadic list (of the first element if alone; D0 if empty). *)
Definition Dmaxl (l : list D) : D := match l with [] => D0 | x :: r => fold_left Dmax r x end.
Definition Dminl (l : list D) : D := Dopp (Dmaxl (map Dopp l)).

Lemma Dle_false x y : Dle x y = false -> (D2R y < D2R x)%R.
Proof. unfold Dle. intros H. apply Dnonneg_false in H. rewrite D2R_sub in H. lra. Qed.

Lemma Dmax_ge x y : (D2R x <= D2R (Dmax x y))%R /\ (D2R y <= D2R (Dmax x y))%R.
Proof.
  unfold Dmax. destruct (Dle x y) eqn:H.
  - apply Dle_spec in H. lra.
  - apply Dle_false in H. lra.
Qed.

Lemma fold_max_ge l : forall acc, (D2R acc <= D2R (fold_left Dmax l acc))%R /\
  (forall y, In y l -> (D2R y <= D2R (fold_left Dmax l acc))%R).
Proof.
  induction l as [|x l IH]; intros acc; simpl.
  - split; [lra | intros _ []].
  - destruct (IH (Dmax acc x)) as [H1 H2]. destruct (Dmax_ge acc x) as [H3 H4]. split; [lra|].
    intros y [<-|Hy]; [lra | apply H2; exact Hy].
Qed.

Lemma Dmaxl_ge l y : In y l -> (D2R y <= D2R (Dmaxl l))%R.
Proof.
  destruct l as [|x r]; [intros []|]. simpl. destruct (fold_max_ge r x) as [H1 H2].
  intros [<-|Hy]; [exact H1 | apply H2; exact Hy].
Qed.

Lemma Dminl_le l y : In y l -> (D2R (Dminl l) <= D2R y)%R.
Proof.
  intros Hy. unfold Dminl. rewrite D2R_opp.
  assert (H := Dmaxl_ge (map Dopp l) (Dopp y) (in_map Dopp l y Hy)). rewrite D2R_opp in H. lra.
Qed.

Lemma sum_count (n : nat) (p : nat -> bool) (a : R) : sum n (fun i => if p i then 0%R else a) = (INR (countn n p) * a)%R.
Proof.
  induction n as [|n IH]; simpl; [ring|]. rewrite IH, plus_INR.
  destruct (p n); simpl; ring.
Qed.

Lemma sum_lt_skip (n : nat) (p : nat -> bool) (x y : nat -> R) : (forall i, (i < n)%nat -> p i = false -> (x i < y i)%R) ->
  (0 < countn n p)%nat ->
  (sum n (fun i => if p i then 0 else x i) < sum n (fun i => if p i then 0 else y i))%R.
Proof.
  induction n as [|n IH]; intros H Hc; simpl in *; [lia|].
  destruct (p n) eqn:Hp; simpl in Hc.
  - rewrite Nat.add_0_r in Hc. assert (IH' := IH (fun i Hi => H i ltac:(lia)) Hc). lra.
  - assert (Hn := H n ltac:(lia) Hp).
    destruct (countn n p) eqn:Hc'.
    + assert (Hle : (sum n (fun i => if p i then 0 else x i) <= sum n (fun i => if p i then 0 else y i))%R).
      { apply sum_le. intros i Hi. destruct (p i) eqn:Hpi; [lra|]. left. apply H; [lia|exact Hpi]. }
      lra.
    + assert (IH' := IH (fun i Hi => H i ltac:(lia)) ltac:(lia)). lra.
Qed.

(** All boolean lists of length n (which positions hold m). *)
Fixpoint subsets (n : nat) : list (list bool) :=
  match n with O => [[]] | S n' => flat_map (fun bs => [true :: bs; false :: bs]) (subsets n') end.

Lemma subsets_complete bs : In bs (subsets (length bs)).
Proof.
  induction bs as [|b bs IH]; simpl; [left; reflexivity|].
  apply in_flat_map. exists bs. split; [exact IH|]. destruct b; simpl; auto.
Qed.

Open Scope R_scope.

Lemma sum_skip_zero (n : nat) (p : nat -> bool) (x : nat -> R) : countn n p = 0%nat ->
  sum n (fun i => if p i then 0%R else x i) = 0%R.
Proof.
  induction n as [|n IH]; simpl; intros H; [reflexivity|].
  destruct (p n); [|lia]. rewrite IH by lia. ring.
Qed.

(** The cubic argument over the reals, for one input and one rival j (abstracted). *)
Lemma cubic_bound (n : nat) (e C elo P : nat -> R) (b : nat -> bool) (g L qp Wlo : R) :
  (0 < g)%R ->
  (forall i, (i < n)%nat -> b i = true -> (0 <= elo i <= e i)%R /\ (g <= C i)%R) ->
  (forall i, (i < n)%nat -> b i = false -> (- P i <= e i * C i)%R) ->
  (g * L - qp <= e n * C n)%R ->
  (Wlo <= sum n (fun i => if b i then elo i else 0) + L)%R ->
  (countn n b = 0%nat -> (0 < g * Wlo - qp)%R) ->
  ((0 < countn n b)%nat -> forall i, (i < n)%nat -> b i = false -> (0 < g * Wlo - qp - INR (countn n b) * P i)%R) ->
  (0 < sum (S n) (fun i => e i * C i))%R.
Proof.
  intros Hg HG HO Hlast HW H0 Hc. simpl.
  assert (Hs : (sum n (fun i => (if b i then g * elo i else 0) + (if b i then 0 else - P i))
                <= sum n (fun i => e i * C i))%R).
  { apply sum_le. intros i Hi. destruct (b i) eqn:Hb.
    - destruct (HG i Hi Hb) as [[He1 He2] HC].
      assert (0 <= e i)%R by lra.
      apply (Rle_trans _ (g * e i)); [rewrite Rplus_0_r; apply Rmult_le_compat_l; lra|].
      rewrite (Rmult_comm (e i)). apply Rmult_le_compat_r; lra.
    - rewrite Rplus_0_l. apply HO; assumption. }
  rewrite sum_plus in Hs.
  rewrite (sum_ext _ (fun i => if b i then g * elo i else 0%R) (fun i => g * (if b i then elo i else 0))) in Hs
    by (intros i _; destruct (b i); ring).
  rewrite sum_scale_l in Hs.
  rewrite (sum_ext _ (fun i => if b i then 0%R else - P i) (fun i => -1 * (if b i then 0 else P i))) in Hs
    by (intros i _; destruct (b i); ring).
  rewrite sum_scale_l in Hs.
  assert (HgW : (g * Wlo <= g * (sum n (fun i => if b i then elo i else 0) + L))%R)
    by (apply Rmult_le_compat_l; lra).
  destruct (countn n b) as [|c] eqn:Hcn.
  - rewrite sum_skip_zero in Hs by exact Hcn. specialize (H0 eq_refl). nra.
  - assert (Hlt : (INR (S c) * sum n (fun i => if b i then 0 else P i) < INR (S c) * (g * Wlo - qp))%R).
    { assert (Hcount : INR (S c) * (g * Wlo - qp) = sum n (fun i => if b i then 0 else (g * Wlo - qp)))
        by (rewrite sum_count, Hcn; reflexivity).
      rewrite Hcount, <- sum_scale_l.
      rewrite (sum_ext _ (fun i => INR (S c) * (if b i then 0 else P i)) (fun i => if b i then 0%R else INR (S c) * P i))
        by (intros i _; destruct (b i); ring).
      apply sum_lt_skip; [|lia]. intros i Hi Hb. specialize (Hc ltac:(lia) i Hi Hb). lra. }
    assert (Hpos : (0 < INR (S c))%R) by (apply lt_0_INR; lia).
    assert (HP : (sum n (fun i => if b i then 0 else P i) < g * Wlo - qp)%R).
    { apply (Rmult_lt_reg_l (INR (S c))); assumption. }
    lra.
Qed.

Open Scope Z_scope.

Lemma D2R_D0 : D2R D0 = 0%R.
Proof. unfold D2R, zm, D0; cbn [mant ex]. rewrite BigZ.spec_0. ring. Qed.

Lemma e_lo_nonneg k p d r : (0 <= D2R (e_lo (exp_encl k p d r)))%R.
Proof. unfold exp_encl. destruct (Dnonneg r); simpl; apply exp_lo_spec. Qed.



Definition others (V m : nat) : list nat := filter (fun j => negb (Nat.eqb j m)) (seq 0 V).
Definition goodpos (Kn q m : nat) : list nat := seq 0 (Kn - 1) ++ (if Nat.eqb q m then [(Kn - 1)%nat] else []).
Definition dD (tb : tables) q v := get2 (t_direct tb) q v.
Definition dO (tb : tables) x i v := get3 (t_ov tb) x i v D0.

Definition maxdd tb V q m := Dmaxl (map (fun j => Dsub (dD tb q j) (dD tb q m)) (others V m)).
Definition maxovd tb V x i m := Dmaxl (map (fun j => Dsub (dO tb x i j) (dO tb x i m)) (others V m)).
(* maxdd and maxovd are tabulated once ([mdtab], [motab]); pen looks them up *)
Definition mdtab tb V : list (list D) := tab V (fun q => tab V (fun m => maxdd tb V q m)).
Definition motab tb Kn V : list (list (list D)) := tab V (fun x => tab Kn (fun i => tab V (fun m => maxovd tb V x i m))).
Definition pen (MD : list (list D)) (MO : list (list (list D))) q m x i :=
  Dmax D0 (Dadd (get2 MD q m) (get3 MO x i m D0)).
Definition good tb Kn V q m :=
  Dminl (flat_map (fun i => map (fun j => dgap tb q m j m i) (others V m)) (goodpos Kn q m)).

Definition get2b (T : list (list bool)) a b := nth b (nth a T []) false.
Definition get4 (T : list (list (list (list bool)))) a b c x := nth x (nth c (nth b (nth a T []) []) []) false.

Definition ee (et : list (list (list encl))) q x i := get3 et q x i encl0.
Definition Wsum et Kn q m (bs : list bool) : D :=
  Dadd (Dsum (Kn - 1) (fun i => if nth i bs false then e_lo (ee et q m i) else D0))
       (if Nat.eqb q m then e_lo (ee et q m (Kn - 1)) else D0).
Definition Wlo et Kn q m c : D :=
  Dminl (map (Wsum et Kn q m)
    (filter (fun bs => Nat.eqb (countn (Kn - 1) (fun i => nth i bs false)) c) (subsets (Kn - 1)))).
Definition qpen MD MO et Kn q m : D :=
  if Nat.eqb q m then D0 else Dmul (e_hi (ee et q q (Kn - 1))) (pen MD MO q m q (Kn - 1)).
Definition Phi MD MO et Kn q m x : D :=
  Dmaxl (map (fun i => Dmul (e_hi (ee et q x i)) (pen MD MO q m x i)) (seq 0 (Kn - 1))).
Definition ok_qm et Kn q m : bool :=
  forallb (fun i => e_ok (ee et q m i)) (seq 0 Kn) && e_ok (ee et q q (Kn - 1)).
Definition ok_x et Kn q x : bool := forallb (fun i => e_ok (ee et q x i)) (seq 0 (Kn - 1)).

(** Whether value x passes case (q, m, c), from the per-(q, m) data (good, qpen, P, ok) and the
    case's threshold T = good * W_min(c) - qpen (computed once per case). *)
Definition thr (d : D * D * list D * bool) (w : D) : D := let '(g, qp, _, _) := d in Dsub (Dmul g w) qp.
Definition pass (d : D * D * list D * bool) (T : D) (okx : bool) (c x : nat) : bool :=
  let '(g, _, Pl, ok) := d in
  if ok && okx && Dpos g then Dpos (Dsub T (Dmul (Dnat c) (nth x Pl D0))) else false.

(* P(x) is needed for the values below m only *)
Definition qm_data tb MD MO et Kn V q m : D * D * list D * bool :=
  (good tb Kn V q m, qpen MD MO et Kn q m, tab V (fun x => if Nat.ltb x m then Phi MD MO et Kn q m x else D0),
   ok_qm et Kn q m).

Definition cubic_table (M : model) (tb : tables) (et : list (list (list encl))) : list (list (list (list bool))) :=
  let V := d_vocab M in let Kn := K M in
  let okx := tab V (fun q => tab V (fun x => ok_x et Kn q x)) in
  let MD := mdtab tb V in let MO := motab tb Kn V in
  (* only what an input can look up is computed: m >= q, and x < m (c > 0) or x = m (c = 0) *)
  tab V (fun q => tab V (fun m => if Nat.ltb m q then [] else let d := qm_data tb MD MO et Kn V q m in
    tab Kn (fun c => let T := thr d (Wlo et Kn q m c) in
      tab V (fun x => if (if Nat.eqb c 0 then Nat.eqb x m else Nat.ltb x m)
                      then pass d T (get2b okx q x) c x else false)))).

Definition covered (M : model) (CT : list (list (list (list bool)))) (t : list nat) : bool :=
  let Kn := K M in let q := tok t (Kn - 1) in let m := answer t in
  let b := fun i => Nat.eqb (tok t i) m in
  let c := countn (Kn - 1) b in
  let row := nth c (nth m (nth q CT []) []) [] in   (* = get4 CT q m c, looked up once *)
  if Nat.eqb c 0 then nth m row false
  else forallb (fun i => b i || nth (tok t i) row false) (seq 0 (Kn - 1)).

Lemma get4_pass M tb et q m c x : (q < d_vocab M)%nat -> (m < d_vocab M)%nat -> (c < K M)%nat ->
  (x < d_vocab M)%nat ->
  get4 (cubic_table M tb et) q m c x = true ->
  let d := qm_data tb (mdtab tb (d_vocab M)) (motab tb (K M) (d_vocab M)) et (K M) (d_vocab M) q m in
  pass d (thr d (Wlo et (K M) q m c)) (ok_x et (K M) q x) c x = true.
Proof.
  intros Hq Hm Hc Hx. unfold cubic_table, get4. rewrite !tab_nth by assumption.
  destruct (Nat.ltb m q); [destruct c, x; discriminate|]. rewrite !tab_nth by assumption.
  destruct (if Nat.eqb c 0 then _ else _); [|discriminate]. unfold get2b. rewrite !tab_nth by assumption. auto.
Qed.

Lemma pass_spec tb MD MO et Kn V q m c x : (x < V)%nat ->
  let d := qm_data tb MD MO et Kn V q m in
  pass d (thr d (Wlo et Kn q m c)) (ok_x et Kn q x) c x = true ->
  ok_qm et Kn q m = true /\ ok_x et Kn q x = true /\ (0 < D2R (good tb Kn V q m))%R /\
  (0 < D2R (good tb Kn V q m) * D2R (Wlo et Kn q m c) - D2R (qpen MD MO et Kn q m)
       - INR c * D2R (if Nat.ltb x m then Phi MD MO et Kn q m x else D0))%R.
Proof.
  intros Hx d H. unfold d, pass, thr, qm_data in H.
  destruct (ok_qm et Kn q m && ok_x et Kn q x && Dpos (good tb Kn V q m)) eqn:Hb; [|discriminate].
  repeat rewrite andb_true_iff in Hb. destruct Hb as [[Hok Hokx] Hg]. apply Dpos_spec in Hg, H.
  rewrite !D2R_sub, !D2R_mul, D2R_nat in H. rewrite tab_nth in H by exact Hx.
  repeat split; assumption.
Qed.

Lemma tok_le_answer t i : (i < length t)%nat -> (tok t i <= answer t)%nat.
Proof.
  unfold tok, answer. revert i. induction t as [|x t IH]; intros i Hi; simpl in *; [lia|].
  destruct i as [|i]; [lia|]. specialize (IH i ltac:(lia)). lia.
Qed.

Lemma sum_n_eq (n1 n2 : nat) F : n1 = n2 -> sum n1 F = sum n2 F.
Proof. intros ->. reflexivity. Qed.

Lemma countn_ext n p1 p2 : (forall i, (i < n)%nat -> p1 i = p2 i) -> countn n p1 = countn n p2.
Proof.
  induction n as [|n IH]; intros H; simpl; [reflexivity|]. rewrite IH by (intros; apply H; lia).
  rewrite H by lia. reflexivity.
Qed.

Lemma Dmax_ge0 x y : (D2R x <= D2R (Dmax x y))%R /\ (D2R y <= D2R (Dmax x y))%R.
Proof. apply Dmax_ge. Qed.

Lemma others_in V m j : (j < V)%nat -> j <> m -> In j (others V m).
Proof.
  intros Hj Hne. unfold others. apply filter_In. split; [apply in_seq; lia|].
  apply negb_true_iff, Nat.eqb_neq. exact Hne.
Qed.

(** pen bounds the loss of any rival at a position holding x. *)
Lemma pen_spec M q m j x i : (q < d_vocab M)%nat -> (m < d_vocab M)%nat -> (j < d_vocab M)%nat -> j <> m ->
  (x < d_vocab M)%nat -> (i < K M)%nat ->
  let MD := mdtab (make_tables M) (d_vocab M) in let MO := motab (make_tables M) (K M) (d_vocab M) in
  (0 <= D2R (pen MD MO q m x i))%R /\ (- D2R (dgap (make_tables M) q m j x i) <= D2R (pen MD MO q m x i))%R.
Proof.
  intros Hq Hm Hj Hne Hx Hi MD MO. unfold pen, MD, MO, mdtab, motab. rewrite get2_tab, get3_tab by assumption.
  destruct (Dmax_ge D0 (Dadd (maxdd (make_tables M) (d_vocab M) q m)
     (maxovd (make_tables M) (d_vocab M) x i m))) as [H1 H2].
  split; [rewrite D2R_D0 in H1; exact H1|].
  eapply Rle_trans; [|exact H2]. rewrite D2R_add.
  assert (Ha := Dmaxl_ge _ _ (in_map (fun j => Dsub (dD (make_tables M) q j) (dD (make_tables M) q m)) _ _ (others_in _ _ _ Hj Hne))).
  assert (Hb := Dmaxl_ge _ _ (in_map (fun j => Dsub (dO (make_tables M) x i j) (dO (make_tables M) x i m)) _ _ (others_in _ _ _ Hj Hne))).
  fold (maxdd (make_tables M) (d_vocab M) q m) in Ha. fold (maxovd (make_tables M) (d_vocab M) x i m) in Hb.
  rewrite D2R_sub in Ha, Hb. unfold dgap. rewrite D2R_add, !D2R_sub. unfold dD, dO in *. lra.
Qed.

Lemma covered_sound k p M t : (0 < K M)%nat -> (0 < d_head M)%nat -> (0 < d_vocab M)%nat ->
  In t (inputs (d_vocab M) (K M)) ->
  covered M (cubic_table M (make_tables M) (exp_table k p M (make_tables M))) t = true -> correct M t = true.
Proof.
  intros HK Hd HV Hin Hcov. destruct (inputs_spec _ _ _ Hin) as [Hl Hf].
  set (tb := make_tables M) in *. set (et := exp_table k p M tb) in *.
  set (V := d_vocab M) in *. set (n := (K M - 1)%nat).
  set (MD := mdtab tb V). set (MO := motab tb (K M) V).
  assert (HKn : K M = S n) by (unfold n; lia).
  set (q := tok t (K M - 1)). set (m := answer t).
  assert (Hq : (q < V)%nat) by (apply (tok_lt _ _ _ Hf); lia).
  assert (Hm : (m < V)%nat) by (apply answer_lt; assumption).
  assert (Htok : forall i, (i < K M)%nat -> (tok t i < V)%nat) by (intros; apply (tok_lt _ _ _ Hf); lia).
  set (b := fun i => Nat.eqb (tok t i) m).
  set (c := countn n b).
  assert (Hc : (c < K M)%nat).
  { assert (forall n' p', (countn n' p' <= n')%nat) as Hle.
    { induction n' as [|n' IH]; intros; simpl; [lia|]. specialize (IH p'). destruct (p' n'); lia. }
    specialize (Hle n b). unfold c. lia. }
  (* what the lookups establish *)
  assert (Hpass : forall x, (x < V)%nat -> (c = 0%nat -> x = m) -> (c <> 0%nat -> exists i, (i < n)%nat /\ b i = false /\ tok t i = x) ->
            let d := qm_data tb MD MO et (K M) V q m in pass d (thr d (Wlo et (K M) q m c)) (ok_x et (K M) q x) c x = true).
  { intros x Hx H0 H1. unfold MD, MO, V. apply get4_pass; try assumption; try lia. unfold covered in Hcov. cbv zeta in Hcov.
    fold q m in Hcov. fold n in Hcov. fold b c in Hcov.
    destruct (Nat.eqb_spec c 0) as [Hc0|Hc0].
    - cbv iota beta in Hcov. rewrite (H0 Hc0). exact Hcov.
    - cbv iota beta in Hcov.
      destruct (H1 Hc0) as [i [Hi [Hb <-]]]. rewrite forallb_forall in Hcov.
      specialize (Hcov i ltac:(apply in_seq; lia)). unfold b in Hb. rewrite Hb in Hcov. exact Hcov. }
  (* the case's data, from one passing value *)
  assert (Hany : exists x, (x < V)%nat /\ let d := qm_data tb MD MO et (K M) V q m in
            pass d (thr d (Wlo et (K M) q m c)) (ok_x et (K M) q x) c x = true).
  { destruct (Nat.eq_dec c 0) as [Hc0|Hc0].
    - exists m. split; [exact Hm|]. apply Hpass; [exact Hm | auto | contradiction].
    - assert (exists i, (i < n)%nat /\ b i = false) as [i [Hi Hb]].
      { clear -Hc0. unfold c in Hc0. induction n as [|n' IH]; simpl in Hc0; [lia|].
        destruct (b n') eqn:E.
        - rewrite Nat.add_0_r in Hc0. destruct (IH Hc0) as [i [Hi Hb]]. exists i. split; [lia|exact Hb].
        - exists n'. split; [lia|exact E]. }
      exists (tok t i). split; [apply Htok; lia|]. apply Hpass; [apply Htok; lia | intros; contradiction | eauto]. }
  destruct Hany as [x0 [Hx0 Hp0]]. apply pass_spec in Hp0 as [Hokqm [_ [Hg _]]]; [|exact Hx0].
  unfold ok_qm in Hokqm. apply andb_true_iff in Hokqm as [Hokm Hokqq]. rewrite forallb_forall in Hokm.
  (* correctness, rival by rival *)
  unfold correct. rewrite forallb_forall. intros j Hj. apply in_seq in Hj. assert (Hj' : (j < V)%nat) by (unfold V; lia). clear Hj. rename Hj' into Hj.
  destruct (Nat.eqb_spec j (answer t)) as [_|Hjm]; [reflexivity|]. rewrite orb_false_l. fold m in Hjm |- *.
  unfold greater. destruct (Rgt_dec _ _) as [|Hn]; [reflexivity|]. exfalso. apply Hn.
  apply (gap_sign M t m j (D2R (nth q (t_top tb) D0)) HK Hd).
  fold q. rewrite (sum_n_eq _ _ _ HKn).
  set (sq := sqrt (INR (d_head M))).
  set (e := fun i => exp ((QK M q (tok t i) i - D2R (nth q (t_top tb) D0)) / sq)).
  assert (He : forall x i, (x < V)%nat -> (i < K M)%nat -> e_ok (ee et q x i) = true ->
            (D2R (e_lo (ee et q x i)) <= exp ((QK M q x i - D2R (nth q (t_top tb) D0)) / sq)
             <= D2R (e_hi (ee et q x i)))%R).
  { intros x i Hx Hi Hok. apply (exp_table_spec k p M q x i); assumption. }
  assert (Helo : forall x i, (x < V)%nat -> (i < K M)%nat -> (0 <= D2R (e_lo (ee et q x i)))%R).
  { intros x i Hx Hi. unfold ee, et, exp_table. rewrite get3_tab by assumption. apply e_lo_nonneg. }
  assert (Hgap : forall i, (i < K M)%nat -> gap_term M t m j i = D2R (dgap tb q m j (tok t i) i)).
  { intros i Hi. unfold dgap, gap_term, tb. rewrite D2R_add, !D2R_sub, !direct_spec, !ov_spec; try assumption; auto; lia. }
  apply (cubic_bound n e (fun i => gap_term M t m j i) (fun i => D2R (e_lo (ee et q m i)))
           (fun i => D2R (Phi MD MO et (K M) q m (tok t i))) b
           (D2R (good tb (K M) V q m))
           (D2R (if Nat.eqb q m then e_lo (ee et q m (K M - 1)) else D0))
           (D2R (qpen MD MO et (K M) q m)) (D2R (Wlo et (K M) q m c))).
  - exact Hg.
  - (* positions holding m *)
    intros i Hi Hb. apply Nat.eqb_eq in Hb. split; [split|].
    + apply (Helo m i Hm). lia.
    + unfold e. rewrite Hb. apply He; [exact Hm | lia | apply Hokm, in_seq; lia].
    + rewrite Hgap by lia. rewrite Hb. apply Dminl_le. apply in_flat_map. exists i. split.
      * unfold goodpos. apply in_or_app. left. apply in_seq. unfold n in Hi. lia.
      * apply (in_map (fun j => dgap tb q m j m i)). apply others_in; [exact Hj | exact Hjm].
  - (* other positions *)
    intros i Hi Hb. set (x := tok t i).
    assert (Hx : (x < V)%nat) by (apply Htok; lia).
    assert (Hp := Hpass x Hx (fun H => ltac:(exfalso; unfold c in H; clear -H Hi Hb; induction n as [|n' IH]; [lia|]; simpl in H; destruct (Nat.eq_dec i n') as [->|Hne]; [rewrite Hb in H; lia | destruct (b n'); [apply IH; lia || (rewrite Nat.add_0_r in H; exact H) | lia]])) (fun _ => ex_intro _ i (conj Hi (conj Hb eq_refl)))).
    apply pass_spec in Hp as [_ [Hokx _]]; [|exact Hx]. unfold ok_x in Hokx. rewrite forallb_forall in Hokx.
    assert (Hei := He x i Hx ltac:(lia) (Hokx i ltac:(apply in_seq; lia))). fold e in Hei.
    destruct (pen_spec M q m j x i Hq Hm ltac:(lia) Hjm Hx ltac:(lia)) as [Hpen0 Hpen].
    rewrite Hgap in * by lia. fold x tb V MD MO in Hpen, Hpen0 |- *.
    assert (HPi := Dmaxl_ge _ _ (in_map (fun i => Dmul (e_hi (ee et q x i)) (pen MD MO q m x i)) (seq 0 (K M - 1)) i ltac:(apply in_seq; unfold n in Hi; lia))).
    fold (Phi MD MO et (K M) q m x) in HPi. rewrite D2R_mul in HPi.
    assert (Hepos : (0 < e i)%R) by apply exp_pos.
    unfold e in *. fold x in Hepos |- *.
    assert (exp ((QK M q x i - D2R (nth q (t_top tb) D0)) / sq) * D2R (pen MD MO q m x i)
            <= D2R (e_hi (ee et q x i)) * D2R (pen MD MO q m x i))%R by (apply Rmult_le_compat_r; [exact Hpen0 | apply Hei]).
    assert (exp ((QK M q x i - D2R (nth q (t_top tb) D0)) / sq) * - D2R (pen MD MO q m x i)
            <= exp ((QK M q x i - D2R (nth q (t_top tb) D0)) / sq) * D2R (dgap tb q m j x i))%R
      by (apply Rmult_le_compat_l; lra).
    lra.
  - (* the query position *)
    unfold e. assert (Hlast : tok t n = q) by (unfold q, n; reflexivity). rewrite Hlast.
    rewrite Hgap by lia. rewrite Hlast. unfold qpen.
    destruct (Nat.eqb_spec q m) as [Hqm|Hqm].
    + rewrite D2R_D0. rewrite Hqm in *.
      assert (Hel := He m n Hm ltac:(lia) (Hokm n ltac:(apply in_seq; lia))).
      assert (Hg' : (D2R (good tb (K M) V m m) <= D2R (dgap tb m m j m n))%R).
      { apply Dminl_le. apply in_flat_map. exists n. split.
        - unfold goodpos. rewrite Nat.eqb_refl. apply in_or_app. right. left. reflexivity.
        - apply (in_map (fun j => dgap tb m m j m n)). apply others_in; [exact Hj | exact Hjm]. }
      assert (H0 := Helo m n Hm ltac:(lia)). fold sq in Hel. unfold n in *.
      assert (D2R (good tb (K M) V m m) * D2R (e_lo (ee et m m (K M - 1)))
              <= D2R (good tb (K M) V m m) * exp ((QK M m m (K M - 1) - D2R (nth m (t_top tb) D0)) / sq))%R
        by (apply Rmult_le_compat_l; lra).
      assert (D2R (good tb (K M) V m m) * exp ((QK M m m (K M - 1) - D2R (nth m (t_top tb) D0)) / sq)
              <= exp ((QK M m m (K M - 1) - D2R (nth m (t_top tb) D0)) / sq) * D2R (dgap tb m m j m (K M - 1)))%R
        by (rewrite Rmult_comm; apply Rmult_le_compat_l; [left; apply exp_pos | exact Hg']).
      lra.
    + rewrite D2R_D0, Rmult_0_r, D2R_mul.
      assert (Hel := He q n Hq ltac:(lia) Hokqq). fold sq in Hel.
      destruct (pen_spec M q m j q n Hq Hm ltac:(lia) Hjm Hq ltac:(lia)) as [Hpen0 Hpen]. fold tb V MD MO in Hpen, Hpen0.
      assert (Hepos : (0 < exp ((QK M q q n - D2R (nth q (t_top tb) D0)) / sq))%R) by apply exp_pos.
      unfold n in *.
      assert (exp ((QK M q q (K M - 1) - D2R (nth q (t_top tb) D0)) / sq) * D2R (pen MD MO q m q (K M - 1))
              <= D2R (e_hi (ee et q q (K M - 1))) * D2R (pen MD MO q m q (K M - 1)))%R
        by (apply Rmult_le_compat_r; lra).
      assert (exp ((QK M q q (K M - 1) - D2R (nth q (t_top tb) D0)) / sq) * - D2R (pen MD MO q m q (K M - 1))
              <= exp ((QK M q q (K M - 1) - D2R (nth q (t_top tb) D0)) / sq) * D2R (dgap tb q m j q (K M - 1)))%R
        by (apply Rmult_le_compat_l; lra).
      lra.
  - (* W_min *)
    set (bs := map b (seq 0 n)).
    assert (Hbs : forall i, (i < n)%nat -> nth i bs false = b i).
    { intros i Hi. unfold bs. apply (tab_nth n b i false Hi). }
    assert (Hin' : In (Wsum et (K M) q m bs)
               (map (Wsum et (K M) q m) (filter (fun bs => Nat.eqb (countn (K M - 1) (fun i => nth i bs false)) c) (subsets (K M - 1))))).
    { apply in_map. apply filter_In. split.
      - replace (K M - 1)%nat with (length bs) by (unfold bs; rewrite map_length, seq_length; reflexivity).
        apply subsets_complete.
      - apply Nat.eqb_eq. fold n. unfold c. apply countn_ext. exact Hbs. }
    assert (HW := Dminl_le _ _ Hin'). fold (Wlo et (K M) q m c) in HW.
    eapply Rle_trans; [exact HW|]. unfold Wsum. rewrite D2R_add, D2R_sum. fold n.
    apply Req_le. f_equal. apply sum_ext. intros i Hi. rewrite Hbs by exact Hi.
    destruct (b i); [reflexivity | apply D2R_D0].
  - (* c = 0 *)
    intros Hc0. fold c in Hc0.
    assert (Hp := Hpass m Hm (fun _ => eq_refl) (fun H => ltac:(contradiction))).
    apply pass_spec in Hp as [_ [_ [_ Hb]]]; [|exact Hm]. replace (INR c) with 0%R in Hb by (rewrite Hc0; reflexivity). lra.
  - (* c > 0 *)
    intros Hc0 i Hi Hb. fold c in Hc0 |- *. set (x := tok t i).
    assert (Hx : (x < V)%nat) by (apply Htok; lia).
    assert (Hp := Hpass x Hx (fun H => ltac:(lia)) (fun _ => ex_intro _ i (conj Hi (conj Hb eq_refl)))).
    apply pass_spec in Hp as [_ [_ [_ Hb']]]; [|exact Hx].
    assert (Hxm : (x < m)%nat).
    { assert (Hle := tok_le_answer t i ltac:(lia)). unfold b in Hb. apply Nat.eqb_neq in Hb. fold m in Hle. unfold x. lia. }
    apply Nat.ltb_lt in Hxm. rewrite Hxm in Hb'. exact Hb'.
Qed.

(** Counting the covered inputs case by case, without listing them (Counting.v). The case
    (q, m, c) with row S = CT[q][m][c] has inputs iff q = m, or q < m and an m is among the first
    K-1 positions (c < K-1); for c = 0 it is covered iff S holds m; its inputs are those whose c
    non-max values lie in S below m: C(K-1, c) |S /\ [0, m)|^c of them. *)
Definition case_row (CT : list (list (list (list bool)))) q m c : list bool := nth c (nth m (nth q CT []) []) [].
Definition valid_case (n q m c : nat) (row : list bool) : bool :=
  (Nat.eqb q m || (Nat.ltb q m && Nat.ltb c n)) && (if Nat.eqb c 0 then nth m row false else true).
Definition cubic_count (M : model) (CT : list (list (list (list bool)))) : Z :=
  let V := d_vocab M in let n := (K M - 1)%nat in
  sumZ (fun q => sumZ (fun m => sumZ (fun c => let row := case_row CT q m c in
    if valid_case n q m c row then ncount (sumZ ind (firstn m row)) 1 n c else 0)
  (seq 0 (K M))) (seq 0 V)) (seq 0 V).

Lemma fold_max_le t m : Forall (fun x => (x <= m)%nat) t -> (fold_right Nat.max 0 t <= m)%nat.
Proof. induction 1; simpl; lia. Qed.

Lemma answer_eq t m : Forall (fun x => (x <= m)%nat) t -> In m t -> answer t = m.
Proof.
  unfold answer. induction t as [|x t IH]; intros H Hin; [destruct Hin|]. inversion H as [|? ? Hx Ht]; subst.
  simpl. destruct Hin as [<-|Hin].
  - assert (Hle := fold_max_le t x Ht). lia.
  - rewrite (IH Ht Hin). lia.
Qed.

(** An input the case (q, m, c) counts is covered, and (q, m, c) is its own case. *)
Lemma case_covered M CT t q m c : (0 < K M)%nat -> In t (inputs (d_vocab M) (K M)) ->
  valid_case (K M - 1) q m c (case_row CT q m c) = true ->
  posok (Pcase m (case_row CT q m c)) (fun x => Nat.eqb x m) q (K M - 1) c t = true ->
  covered M CT t && Nat.eqb (tok t (K M - 1)) q && Nat.eqb (answer t) m
    && Nat.eqb (countn (K M - 1) (fun i => Nat.eqb (tok t i) (answer t))) c = true.
Proof.
  intros HK Hin Hv Hp. destruct (inputs_spec _ _ _ Hin) as [Hl Hf].
  unfold posok in Hp. repeat rewrite andb_true_iff in Hp. destruct Hp as [[Hq Hall] Hc].
  apply Nat.eqb_eq in Hq, Hc. rewrite forallb_forall in Hall.
  unfold valid_case in Hv. apply andb_true_iff in Hv as [Hqm Hc0].
  assert (Hcase : forall i, (i < K M - 1)%nat -> tok t i = m \/ (tok t i < m)%nat /\ nth (tok t i) (case_row CT q m c) false = true).
  { intros i Hi. specialize (Hall i ltac:(apply in_seq; lia)). unfold Pcase in Hall.
    destruct (Nat.eqb_spec (tok t i) m) as [E|E]; [left; exact E|right].
    apply andb_true_iff in Hall as [H1 H2]. apply Nat.ltb_lt in H1. auto. }
  assert (Hqle : (q <= m)%nat).
  { apply orb_true_iff in Hqm as [E|E]; [apply Nat.eqb_eq in E | apply andb_true_iff in E as [E _]; apply Nat.ltb_lt in E]; lia. }
  assert (Hans : answer t = m).
  { apply answer_eq.
    - apply Forall_forall. intros y Hy. apply (In_nth _ _ 0%nat) in Hy as [i [Hi <-]]. fold (tok t i).
      destruct (Nat.eq_dec i (K M - 1)) as [->|Hne]; [lia|]. destruct (Hcase i ltac:(lia)) as [E|[E _]]; lia.
    - apply orb_true_iff in Hqm as [E|E].
      + apply Nat.eqb_eq in E. subst q. rewrite <- Hq. apply nth_In. lia.
      + apply andb_true_iff in E as [_ E]. apply Nat.ltb_lt in E. rewrite <- Hc in E.
        destruct (countn_lt _ _ E) as [i [Hi Hb]]. apply Nat.eqb_eq in Hb. rewrite <- Hb. apply nth_In. lia. }
  rewrite Hans, Hq, Hc, !Nat.eqb_refl, !andb_true_r.
  unfold covered. cbv zeta. rewrite Hans, Hq, Hc. fold (case_row CT q m c).
  destruct (Nat.eqb_spec c 0) as [->|Hne]; [exact Hc0|].
  apply forallb_forall. intros i Hi. apply in_seq in Hi.
  destruct (Hcase i ltac:(lia)) as [E|[_ E]]; [rewrite E, Nat.eqb_refl; reflexivity | rewrite E, orb_true_r; reflexivity].
Qed.

(** The counting lemma: the cases' counts add up to at most the number of covered inputs. *)
Lemma cubic_count_le M CT : (0 < K M)%nat -> (0 < d_vocab M)%nat ->
  cubic_count M CT <= countZ (covered M CT) (inputs (d_vocab M) (K M)).
Proof.
  intros HK HV. rewrite countZ_sumZ. unfold cubic_count.
  assert (Hin := inputs_spec (d_vocab M) (K M)).
  rewrite (count_split _ (fun t => tok t (K M - 1)) (d_vocab M))
    by (intros t Ht; destruct (Hin t Ht); apply (tok_lt _ _ _ H0); lia).
  apply sumZ_le. intros q Hq. apply in_seq in Hq.
  rewrite (count_split _ answer (d_vocab M)) by (intros t Ht; destruct (Hin t Ht); apply answer_lt; assumption).
  apply sumZ_le. intros m Hm. apply in_seq in Hm.
  rewrite (count_split _ (fun t => countn (K M - 1) (fun i => Nat.eqb (tok t i) (answer t))) (K M))
    by (intros t _; assert (H := countn_le (K M - 1) (fun i => Nat.eqb (tok t i) (answer t))); lia).
  apply sumZ_le. intros c Hc. apply in_seq in Hc. cbv beta zeta.
  destruct (valid_case (K M - 1) q m c (case_row CT q m c)) eqn:Hv; [|apply sumZ_ind_nonneg].
  rewrite <- (count_case (d_vocab M) q m (K M - 1) c (case_row CT q m c)) by lia.
  replace (S (K M - 1)) with (K M) by lia.
  apply sumZ_le. intros t Ht. unfold ind at 1.
  destruct (posok _ _ q (K M - 1) c t) eqn:Hp.
  - rewrite (case_covered M CT t q m c HK Ht Hv Hp). cbn. lia.
  - unfold ind. destruct (_ && _); lia.
Qed.

(** The decision: num/den <= (the number of inputs the cases cover) / V^K. *)
Definition cubic_check (k : nat) (p : Z) (M : model) (num den : Z) : bool :=
  let tb := make_tables M in
  let CT := cubic_table M tb (exp_table k p M tb) in
  Nat.ltb 0 (K M) && Nat.ltb 0 (d_vocab M) && Nat.ltb 0 (d_head M) && (0 <? den) &&
  (num * Z.of_nat (d_vocab M) ^ Z.of_nat (K M) <=? cubic_count M CT * den).

Theorem cubic_check_sound k p M num den : cubic_check k p M num den = true -> (IZR num / IZR den <= accuracy M)%R.
Proof.
  unfold cubic_check. intros H. repeat rewrite andb_true_iff in H.
  destruct H as [[[[HK HV] Hd] Hden] Hc].
  set (CT := cubic_table M (make_tables M) (exp_table k p M (make_tables M))) in *.
  apply (count_bound (covered M CT) M num den).
  - intros t. apply covered_sound; apply Nat.ltb_lt; assumption.
  - rewrite HK, HV, Hden. cbn [andb]. apply Z.leb_le. apply Z.leb_le in Hc. apply Z.ltb_lt in Hden.
    apply Nat.ltb_lt in HK, HV. assert (H := cubic_count_le M CT HK HV). nia.
Qed.

(** The same decision by listing every input (one table lookup each): kept to measure the two
    against each other (benchmarks/coq.py); the count is the same. *)
Definition cubic_enum_check (k : nat) (p : Z) (M : model) (num den : Z) : bool :=
  let tb := make_tables M in
  let CT := cubic_table M tb (exp_table k p M tb) in
  Nat.ltb 0 (K M) && Nat.ltb 0 (d_vocab M) && Nat.ltb 0 (d_head M) && (0 <? den) &&
  (num * Z.of_nat (d_vocab M) ^ Z.of_nat (K M) <=? countZ (covered M CT) (inputs (d_vocab M) (K M)) * den).

Theorem cubic_enum_check_sound k p M num den : cubic_enum_check k p M num den = true -> (IZR num / IZR den <= accuracy M)%R.
Proof.
  unfold cubic_enum_check. intros H. repeat rewrite andb_true_iff in H.
  destruct H as [[[[HK HV] Hd] Hden] Hc].
  apply (count_bound (covered M (cubic_table M (make_tables M) (exp_table k p M (make_tables M)))) M num den).
  - intros t. apply covered_sound; apply Nat.ltb_lt; assumption.
  - rewrite HK, HV, Hden, Hc. reflexivity.
Qed.
