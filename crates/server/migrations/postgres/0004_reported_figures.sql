-- The figures a venue reported beside the positions it reported (its own margin, liquidation
-- prices, health factor…), kept with that venue's latest positions so that `GET …/reconcile`
-- can set intermargin's figures against them; positions written by hand or by a liquidation
-- carry none ('[]').
ALTER TABLE positions ADD COLUMN reported TEXT NOT NULL DEFAULT '[]';
