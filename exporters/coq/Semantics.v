(** The claim, in Coq's real numbers: what [accuracy_bound] in Main.v states.
    Read this file (and the weights in Main.v) to know what is proved; nothing else needs trust.
    The model is docs/semantics.md's: one layer, one attention head, no LayerNorm, no MLP,
    all biases, exact real softmax, logits read at the last position. *)
From Coq Require Import Bool ZArith Reals List.
Import ListNotations.
Open Scope R_scope.

(** A weight tensor: integer entries, all scaled by 2^scale (a float32 value is exactly such a
    number). Vectors (biases) are a single row. Missing entries read as 0. *)
Record tensor := { rows : list (list Z); scale : Z }.

Definition entry (T : tensor) (r c : nat) : R :=
  IZR (nth c (nth r (rows T) []) 0%Z) * powerRZ 2 (scale T).

Record model := {
  K : nat; d_vocab : nat; d_model : nat; d_head : nat;
  W_E : tensor; W_pos : tensor;                        (* [d_vocab, d_model], [K, d_model] *)
  W_Q : tensor; W_K : tensor; W_V : tensor;            (* [d_model, d_head] *)
  b_Q : tensor; b_K : tensor; b_V : tensor;            (* [1, d_head] *)
  W_O : tensor; b_O : tensor;                          (* [d_head, d_model], [1, d_model] *)
  W_U : tensor; b_U : tensor }.                        (* [d_model, d_vocab], [1, d_vocab] *)

(** [sum n f] = f 0 + ... + f (n-1). *)
Fixpoint sum (n : nat) (f : nat -> R) : R :=
  match n with O => 0 | S n' => sum n' f + f n' end.


(** resid_i = W_E[t_i] + W_pos[i], for token x at position i, coordinate c. *)
Definition resid (M : model) (x i c : nat) : R := entry (W_E M) x c + entry (W_pos M) i c.

(** q = resid_{K-1} W_Q + b_Q, for the query token x (the token at the last position). *)
Definition query (M : model) (x h : nat) : R :=
  sum (d_model M) (fun c => resid M x (K M - 1) c * entry (W_Q M) c h) + entry (b_Q M) 0 h.
Definition key (M : model) (x i h : nat) : R :=
  sum (d_model M) (fun c => resid M x i c * entry (W_K M) c h) + entry (b_K M) 0 h.
Definition value (M : model) (x i h : nat) : R :=
  sum (d_model M) (fun c => resid M x i c * entry (W_V M) c h) + entry (b_V M) 0 h.

(** An input is a list of K tokens; [tok t i] is t_i. *)
Definition tok (t : list nat) (i : nat) : nat := nth i t 0%nat.

(** s_i = (q . key_i) / sqrt(d_head);  a_i = exp(s_i) / sum_l exp(s_l). *)
Definition score (M : model) (t : list nat) (i : nat) : R :=
  sum (d_head M) (fun h => query M (tok t (K M - 1)) h * key M (tok t i) i h) / sqrt (INR (d_head M)).
Definition attn (M : model) (t : list nat) (i : nat) : R :=
  exp (score M t i) / sum (K M) (fun l => exp (score M t l)).

(** out = resid_{K-1} + (sum_i a_i val_i) W_O + b_O;  logits = out W_U + b_U. *)
Definition mixed (M : model) (t : list nat) (h : nat) : R :=
  sum (K M) (fun i => attn M t i * value M (tok t i) i h).
Definition out (M : model) (t : list nat) (c : nat) : R :=
  resid M (tok t (K M - 1)) (K M - 1) c
  + sum (d_head M) (fun h => mixed M t h * entry (W_O M) h c) + entry (b_O M) 0 c.
Definition logit (M : model) (t : list nat) (v : nat) : R :=
  sum (d_model M) (fun c => out M t c * entry (W_U M) c v) + entry (b_U M) 0 v.

(** The correct answer is the largest token. An input is classified correctly iff the answer's
    logit is strictly greater than every other logit (a tie is wrong). [Rgt_dec] is the standard
    library's (classical) decision of [>] on the reals. *)
Definition answer (t : list nat) : nat := fold_right Nat.max 0%nat t.
Definition greater (x y : R) : bool := if Rgt_dec x y then true else false.
Definition correct (M : model) (t : list nat) : bool :=
  forallb (fun j => (Nat.eqb j (answer t) || greater (logit M t (answer t)) (logit M t j))%bool)
          (seq 0 (d_vocab M)).

(** All d_vocab^K inputs, each once: every list of length n over {0, ..., V-1}. *)
Fixpoint inputs (V n : nat) : list (list nat) :=
  match n with
  | O => [[]]
  | S n' => flat_map (fun t => map (fun x => x :: t) (seq 0 V)) (inputs V n')
  end.

(** The accuracy: the number of correctly classified inputs over d_vocab^K. *)
Definition accuracy (M : model) : R :=
  INR (length (filter (correct M) (inputs (d_vocab M) (K M)))) / INR (d_vocab M ^ K M).
