package load

import "testing"

// The seed example's promises rest on this: every BigEvery-th transaction is
// above 1000.00 and no other is, and ids run 1..n.
func TestTransactionsBigEvery(t *testing.T) {
	for i, tx := range Transactions(1000) {
		if tx.ID != i+1 {
			t.Fatalf("transaction %d has id %d", i+1, tx.ID)
		}
		if big := tx.AmountCents > 100000; big != (tx.ID%BigEvery == 0) {
			t.Fatalf("transaction %d: amount %s, big %v", tx.ID, tx.Amount(), big)
		}
		if tx.AmountCents <= 0 || tx.AmountCents > 500000 {
			t.Fatalf("transaction %d: amount %s out of range", tx.ID, tx.Amount())
		}
	}
}

func TestPricesLastWins(t *testing.T) {
	last, rows, err := Prices("../prices/*.csv")
	if err != nil {
		t.Fatal(err)
	}
	if rows != 26 || len(last) != 21 || last["sku-1"] != "19.90" || last["sku-2"] != "3.50" {
		t.Fatalf("rows %d, skus %d, sku-1 %s, sku-2 %s", rows, len(last), last["sku-1"], last["sku-2"])
	}
}

func TestCheckTable(t *testing.T) {
	for _, bad := range []string{"", "1abc", "a-b", "a`b", `a"b`, "a b"} {
		if CheckTable(bad) == nil {
			t.Errorf("CheckTable(%q) accepted", bad)
		}
	}
	if err := CheckTable("seed_tx_123"); err != nil {
		t.Error(err)
	}
}
