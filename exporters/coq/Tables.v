(** The path terms computed exactly as dyadic tables, each entry proven equal to its real
    definition (Paths.v), and the table of proven exp enclosures of the shifted scores. *)
From Coq Require Import Bool ZArith Reals List Lia Lra.
From Bignums Require Import BigZ.
From Certify Require Import Semantics Dyadic ExpBounds Paths.
Import ListNotations.
Open Scope Z_scope.

Definition dentry (T : tensor) (r c : nat) : D := mkD (BigZ.of_Z (nth c (nth r (rows T) []) 0)) (scale T).
Lemma D2R_entry T r c : D2R (dentry T r c) = entry T r c.
Proof. unfold D2R, zm, dentry, entry; cbn [mant ex]. rewrite BigZ.spec_of_Z. reflexivity. Qed.

Definition tab {A} (n : nat) (f : nat -> A) : list A := map f (seq 0 n).
Lemma tab_nth {A} n (f : nat -> A) i d : (i < n)%nat -> nth i (tab n f) d = f i.
Proof.
  intros H. unfold tab. rewrite (nth_indep _ d (f 0%nat)) by (rewrite map_length, seq_length; exact H).
  rewrite map_nth, seq_nth by exact H. reflexivity.
Qed.

Definition get2 (T : list (list D)) a b := nth b (nth a T []) D0.
Definition get3 {A} (T : list (list (list A))) a b c (d : A) := nth c (nth b (nth a T []) []) d.

Lemma get2_tab n1 n2 f a b : (a < n1)%nat -> (b < n2)%nat ->
  get2 (tab n1 (fun x => tab n2 (f x))) a b = f a b.
Proof. intros. unfold get2. rewrite !tab_nth by assumption. reflexivity. Qed.

Lemma get3_tab {A} n1 n2 n3 (f : nat -> nat -> nat -> A) a b c d : (a < n1)%nat -> (b < n2)%nat -> (c < n3)%nat ->
  get3 (tab n1 (fun x => tab n2 (fun y => tab n3 (f x y)))) a b c d = f a b c.
Proof. intros. unfold get3. rewrite !tab_nth by assumption. reflexivity. Qed.


Definition dresid (M : model) (x i c : nat) : D := Dadd (dentry (W_E M) x c) (dentry (W_pos M) i c).
Definition dlinear (M : model) (W b : tensor) (x i h : nat) : D :=
  Dadd (Dsum (d_model M) (fun c => Dmul (dresid M x i c) (dentry W c h))) (dentry b 0 h).

Lemma D2R_linear M W b x i h :
  D2R (dlinear M W b x i h) = (sum (d_model M) (fun c => resid M x i c * entry W c h) + entry b 0 h)%R.
Proof.
  unfold dlinear. rewrite D2R_add, D2R_sum, D2R_entry. f_equal. apply sum_ext. intros.
  rewrite D2R_mul. unfold dresid. rewrite D2R_add, !D2R_entry. reflexivity.
Qed.

Record tables := {
  t_qk : list (list (list D));     (* [q][x][i]  QK *)
  t_ov : list (list (list D));     (* [x][i][v]  OV *)
  t_direct : list (list D);        (* [q][v]     DIRECT *)
  t_top : list D                   (* [q]        any shift T_q (the row's largest QK) *)
}.

Definition make_tables (M : model) : tables :=
  let V := d_vocab M in let Kn := K M in let dh := d_head M in let dm := d_model M in
  let QT := tab V (fun x => tab dh (fun h => dlinear M (W_Q M) (b_Q M) x (Kn - 1) h)) in
  let KT := tab V (fun x => tab Kn (fun i => tab dh (fun h => dlinear M (W_K M) (b_K M) x i h))) in
  let VT := tab V (fun x => tab Kn (fun i => tab dh (fun h => dlinear M (W_V M) (b_V M) x i h))) in
  let OUT := tab dh (fun h => tab V (fun v => Dsum dm (fun c => Dmul (dentry (W_O M) h c) (dentry (W_U M) c v)))) in
  let qk := tab V (fun q => tab V (fun x => tab Kn (fun i =>
              Dsum dh (fun h => Dmul (get2 QT q h) (get3 KT x i h D0))))) in
  {| t_qk := qk;
     t_ov := tab V (fun x => tab Kn (fun i => tab V (fun v =>
              Dsum dh (fun h => Dmul (get3 VT x i h D0) (get2 OUT h v)))));
     t_direct := tab V (fun q => tab V (fun v =>
              Dadd (Dadd (Dsum dm (fun c => Dmul (dresid M q (Kn - 1) c) (dentry (W_U M) c v)))
                         (Dsum dm (fun c => Dmul (dentry (b_O M) 0 c) (dentry (W_U M) c v))))
                   (dentry (b_U M) 0 v)));
     t_top := map (fun row => fold_left Dmax (concat row) D0) qk |}.

Lemma qk_spec M q x i : (q < d_vocab M)%nat -> (x < d_vocab M)%nat -> (i < K M)%nat ->
  D2R (get3 (t_qk (make_tables M)) q x i D0) = QK M q x i.
Proof.
  intros Hq Hx Hi. simpl. rewrite get3_tab by assumption. rewrite D2R_sum. apply sum_ext. intros h Hh.
  rewrite D2R_mul, get2_tab, get3_tab by assumption. rewrite !D2R_linear. reflexivity.
Qed.

Lemma ov_spec M x i v : (x < d_vocab M)%nat -> (i < K M)%nat -> (v < d_vocab M)%nat ->
  D2R (get3 (t_ov (make_tables M)) x i v D0) = OV M x i v.
Proof.
  intros Hx Hi Hv. simpl. rewrite get3_tab by assumption. rewrite D2R_sum. apply sum_ext. intros h Hh.
  rewrite D2R_mul, get2_tab, get3_tab by assumption. rewrite D2R_linear, D2R_sum. f_equal.
  apply sum_ext. intros. rewrite D2R_mul, !D2R_entry. reflexivity.
Qed.

Lemma direct_spec M q v : (q < d_vocab M)%nat -> (v < d_vocab M)%nat ->
  D2R (get2 (t_direct (make_tables M)) q v) = DIRECT M q v.
Proof.
  intros Hq Hv. simpl. rewrite get2_tab by assumption. rewrite !D2R_add, !D2R_sum. unfold DIRECT.
  rewrite D2R_entry. f_equal. f_equal; apply sum_ext; intros; rewrite D2R_mul; try (unfold dresid; rewrite D2R_add); rewrite !D2R_entry; reflexivity.
Qed.

(** exp enclosures of the shifted scores, [q][x][i]. *)
Definition exp_table (k : nat) (p : Z) (M : model) (tb : tables) : list (list (list encl)) :=
  tab (d_vocab M) (fun q => tab (d_vocab M) (fun x => tab (K M) (fun i =>
    exp_encl k p (d_head M) (Dsub (get3 (t_qk tb) q x i D0) (nth q (t_top tb) D0))))).

Definition encl0 := {| e_lo := D0; e_hi := D0; e_ok := false |}.

Lemma exp_table_spec k p M q x i : (q < d_vocab M)%nat -> (x < d_vocab M)%nat -> (i < K M)%nat ->
  (0 < d_head M)%nat ->
  let e := get3 (exp_table k p M (make_tables M)) q x i encl0 in
  e_ok e = true ->
  (D2R (e_lo e) <= exp ((QK M q x i - D2R (nth q (t_top (make_tables M)) D0)) / sqrt (INR (d_head M)))
   <= D2R (e_hi e))%R.
Proof.
  intros Hq Hx Hi Hd e Hok. unfold e, exp_table in *. rewrite get3_tab in * by assumption.
  rewrite <- qk_spec by assumption. rewrite <- D2R_sub. apply exp_encl_spec; assumption.
Qed.
