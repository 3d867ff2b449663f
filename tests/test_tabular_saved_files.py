"""Files as spreadsheets, R and exporters save them: each written here byte by byte, read back, and its values or
the exact line the user reads checked (the trimmings around a table, missing markers, numbers with signs and
units, time zones, free text, copies of the target on small tables, new files given to a saved model)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from descend.apps.tabular import read_table
from descend.apps.tabular.columns import infer_column, infer_columns, parse_numbers
from descend.apps.tabular.dates import as_dates
from descend.apps.tabular.target import infer_target
from descend.cli import main
from descend.core.errors import DescendError

QUICK = ["--max-epochs", "1"]


def _rows(count: int = 40, seed: int = 0) -> pd.DataFrame:
    """Sales that rise with the price and the size, with a colour that adds nothing."""
    rng = np.random.default_rng(seed)
    price = rng.uniform(1, 100, count).round(2)
    size = rng.integers(1, 6, count)
    return pd.DataFrame({"price": price, "size": size, "colour": rng.choice(["red", "blue"], count),
                         "sales": (3 * price + 10 * size + rng.normal(0, 3, count)).round(2)})


def _read(path) -> tuple[pd.DataFrame, list[str]]:
    notes: list[str] = []
    return read_table(path, say=notes.append), notes


def _run(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _decimal_comma(value: float) -> str:
    return f"{value}".replace(".", ",")


def test_an_excel_export_with_trailing_empty_columns_and_a_totals_row_reads_as_its_data(tmp_path):
    frame = _rows()
    lines = ["Id;Price;Size;Colour;Sales;;"] + [
        f"{i};{_decimal_comma(r.price)};{r.size};{r.colour};{_decimal_comma(r.sales)};;"
        for i, r in enumerate(frame.itertuples())] + [f"Total;;;;{_decimal_comma(frame.sales.sum().round(2))};;"]
    path = tmp_path / "export.csv"
    path.write_bytes(("\ufeff" + "\r\n".join(lines) + "\r\n").encode())
    table, notes = _read(path)
    assert list(table.columns) == ["Id", "Price", "Size", "Colour", "Sales"] and len(table) == 40
    np.testing.assert_allclose(table["Price"], frame.price)
    np.testing.assert_allclose(table["Sales"], frame.sales)
    assert notes == [f"note: {path} has fields separated by ';' and decimal commas (3,5)",
                     f"note: {path}: the last data row (41) starts 'Total', a totals row; left out"]


def test_comment_lines_above_the_header_are_left_out_with_a_note(tmp_path):
    path = tmp_path / "shop.csv"
    _rows().to_csv(path, index=False)
    path.write_text("# exported by shop tool 2.1\n# prices in EUR\n\n" + path.read_text())
    table, notes = _read(path)
    assert list(table.columns) == ["price", "size", "colour", "sales"] and len(table) == 40
    assert notes == [f"note: {path}: 2 comment line(s) starting with '#' above the header left out"]


def test_spaces_around_names_and_cells_and_blank_rows_at_the_end_are_not_data(tmp_path):
    path = tmp_path / "typed.csv"
    body = "".join(f' {r.price} , {r.size} ,{r.colour} , "{r.sales}"\n' for r in _rows().itertuples())
    path.write_text("Price , Size ,Colour, Sales \n" + body + ",,,\n , , , \n")
    table, notes = _read(path)
    assert list(table.columns) == ["Price", "Size", "Colour", "Sales"] and len(table) == 40 and notes == []
    assert set(table["Colour"]) == {"red", "blue"}
    np.testing.assert_allclose(table["Sales"], _rows().sales)


def test_cells_that_mean_no_value_are_read_as_missing_and_counted(tmp_path):
    frame = _rows().astype({"price": object, "colour": object})
    markers = ["?", "-", ".", "n/a", "NULL", "#N/A", "na", "#DIV/0!", "none"]
    for i, marker in enumerate(markers):
        frame.loc[i * 4, "price"] = marker
    frame.loc[1, "colour"] = "?"
    path = tmp_path / "survey.csv"
    frame.to_csv(path, index=False)
    table, notes = _read(path)
    assert table["price"].isna().sum() == len(markers) and table["colour"].isna().sum() == 1
    assert notes == [f"note: {path}: 7 cell(s) holding '?', '#DIV/0!', '-', '.' read as missing"]
    column = infer_column("price", table["price"], len(table))
    path.write_text("damage,cost\n" + "none,1\nmild,2\nsevere,3\n?,4\n" * 5)   # a class named 'none' stays
    assert read_table(path, say=lambda line: None)["damage"].value_counts(dropna=False).to_dict() == {
        "none": 5, "mild": 5, "severe": 5, np.nan: 5}
    assert column.kind == "numeric"   # not 31 text levels
    np.testing.assert_allclose(parse_numbers(table["price"])[0].dropna(), _rows().price.drop(range(0, 36, 4)))


@pytest.mark.parametrize("cells,values,sign", [
    (["$1,234.50", "$12.00", "-$5.25", "$-7"], [1234.5, 12.0, -5.25, -7.0], "$"),
    (["1.234,50 €", "12,00 €", "3 €"], [1234.5, 12.0, 3.0], "€"),
    (["£3", "£4.5", ""], [3.0, 4.5, np.nan], "£"),
    (["12%", "3.5%", "100%"], [12.0, 3.5, 100.0], "%"),
    (["12 kg", "3.5 kg", "7kg"], [12.0, 3.5, 7.0], "kg"),
    (["5 km/h", "7 km/h"], [5.0, 7.0], "km/h"),
    (["(1,234.50)", "$12", "($3)"], [-1234.5, 12.0, -3.0], "$"),      # accountants' brackets: negative
    (["1 year", "2 years", "10 years"], [1.0, 2.0, 10.0], "year"),
    (["1 day", "3 days"], [1.0, 3.0], "day"),
])
def test_numbers_written_with_a_currency_percent_or_unit_are_numbers(cells, values, sign):
    series = pd.Series(cells * 10, dtype="string")
    np.testing.assert_array_equal(parse_numbers(series)[0].to_numpy()[:len(cells)], values)
    column = infer_column("x", series.where(series != ""), 40)
    assert column.kind in ("numeric", "ordinal") and f"(written with {sign!r}, read as plain numbers)" in column.reason


@pytest.mark.parametrize("cells,values", [
    (["1 234 567", "12 345,5"], [1234567.0, 12345.5]),          # spaces grouping digits, a decimal comma
    (["1'234.50", "12.5"], [1234.5, 12.5]),                      # Swiss apostrophes
    (["1.234.567", "12,5"], [1234567.0, 12.5]),                  # points grouping, a decimal comma
    (["1.234", "2.5"], [1.234, 2.5]),                            # a point that can only be decimal: all are
    (["\u22125.5", "3"], [-5.5, 3.0]),                           # a typeset minus sign
    (["12 kg", "500 g"], [np.nan, np.nan]),                      # two units: not one quantity, left as text
    (["5 m", "7 ms"], [np.nan, np.nan]),                         # metres and milliseconds are no plural
    (["15 Jan", "16 Jan"], [np.nan, np.nan]),                    # a month is no unit: these are dates
])
def test_digit_groups_and_units_are_read_only_as_the_whole_column_allows(cells, values):
    np.testing.assert_array_equal(parse_numbers(pd.Series(cells, dtype="string"))[0].to_numpy(), values)


def test_a_currency_target_is_a_regression_not_a_class_per_row():
    series = pd.Series([f"${v:,.2f}" for v in _rows().sales * 10], dtype="string")
    target = infer_target(series, "sales")
    assert target.task == "regression" and target.mean == pytest.approx((_rows().sales * 10).mean())


def test_dates_with_time_zones_and_mixed_formats_read_as_the_wall_clock():
    written = ["2023-01-01T08:00:00+00:00", "2023-03-30T08:30:00+02:00", "2023-03-30T09:15:00.5Z",
               "2023-04-01 10:00 UTC", "2023-04-02", "15/04/2023 11:00+01:00"]
    assert as_dates(pd.Series(written)).tolist() == [
        pd.Timestamp("2023-01-01 08:00"), pd.Timestamp("2023-03-30 08:30"), pd.Timestamp("2023-03-30 09:15:00.5"),
        pd.Timestamp("2023-04-01 10:00"), pd.Timestamp("2023-04-02"), pd.Timestamp("2023-04-15 11:00")]
    aware = pd.Series(pd.to_datetime(["2023-01-01 08:00"]).tz_localize("Europe/Paris"))
    assert as_dates(aware).tolist() == [pd.Timestamp("2023-01-01 08:00")]


def test_a_file_of_times_with_offsets_trains(tmp_path, capsys):
    frame = _rows(60)
    stamps = pd.date_range("2023-03-20 08:00", periods=60, freq="13h", tz="Europe/Berlin")   # summer time begins
    frame["when"] = [t.isoformat() for t in stamps]
    path = tmp_path / "log.csv"
    frame.drop(columns=["colour"]).to_csv(path, index=False)
    code, out, err = _run(capsys, "fit", path, "--target", "sales", *QUICK)
    assert code == 0, err
    assert "  when: datetime - date and time: hour of day" in out


def test_text_with_a_new_value_in_every_row_is_left_out_and_empty_or_constant_columns_say_which():
    frame = _rows(30).assign(email=[f"user{i}@example.com" for i in range(30)], store="Main", notes=np.nan)
    columns, notes = infer_columns(frame, "sales")
    assert [c.name for c in columns] == ["price", "size", "colour"]
    assert notes == [
        "email: text with a different value in each of its 30 filled rows (an identifier, a name or free text): left "
        "out (--categorical email to keep it)",
        "store: left out ('Main' in every row)",
        "notes: left out (empty in every row)"]


def test_a_copy_of_the_target_is_warned_about_on_a_small_table(tmp_path, capsys):
    frame = _rows(50).assign(sales_copy=lambda f: f.sales)
    path = tmp_path / "small.csv"
    frame.to_csv(path, index=False)
    code, out, _ = _run(capsys, "fit", path, "--target", "sales", *QUICK)
    assert code == 0
    warnings = [line for line in out.splitlines() if line.startswith("warning")]
    assert len(warnings) == 1 and warnings[0].startswith(
        "warning: column 'sales_copy' alone predicts 'sales' almost perfectly on the training rows (each fifth judged "
        "from the others) (R2 ")
    code, out, _ = _run(capsys, "fit", path, "--target", "sales", "--drop", "sales_copy", *QUICK)
    assert code == 0 and "warning" not in out


def test_new_files_for_a_saved_model_are_named_in_each_refusal(tmp_path, capsys):
    train = tmp_path / "train.csv"
    _rows(40).to_csv(train, index=False)
    assert _run(capsys, "fit", train, "--target", "sales", "--out", tmp_path / "run", *QUICK)[0] == 0
    given = tmp_path / "new.csv"
    given.write_text("colour,price,extra\nred,10,x\n")
    code, _, err = _run(capsys, "predict", tmp_path / "run", given)
    assert code == 2 and err.strip().splitlines() == [
        f"descend: error: {given} has no column 'size', which the model was trained on; add it with the values: "
        "training had no empty cells there, so an empty cell is filled with the training median (a number) or adds "
        "nothing (text)"]
    given.write_text("Sales,CompPrice\n9.5,138\n")   # another table altogether
    code, _, err = _run(capsys, "predict", tmp_path / "run", given)
    assert code == 2 and err.strip().splitlines() == [
        f"descend: error: {given} has none of the 3 columns the model was trained on (price, size, colour); is it "
        "the right file? It has Sales, CompPrice"]
    given.write_text("colour,price,size\nred,10,abc\n")
    code, _, err = _run(capsys, "predict", tmp_path / "run", given)
    assert code == 2 and err.strip().splitlines() == [
        f"descend: error: {given}: column 'size' holds numbers but data row 1 has 'abc'; fix or empty that cell (when "
        "fitting, --categorical size treats the column as text)"]
    given.write_text('size,colour,price\n3,,"$10"\n,red,\n')   # other order, units, empty cells: all read
    code, out, _ = _run(capsys, "predict", tmp_path / "run", given)
    assert code == 0 and len(out.strip().splitlines()) == 3


def test_a_comma_inside_an_unquoted_date_is_not_blamed_on_decimal_commas(tmp_path, capsys):
    path = tmp_path / "dates.csv"
    path.write_text("when,sales\n" + "".join(f"Jan {d}, 2001,{d}\n" for d in range(1, 21)))
    code, _, err = main(["fit", str(path), "--target", "sales"]), None, capsys.readouterr().err
    assert code == 2 and err.strip() == (f"descend: error: {path}: data row 1 has more fields than the header's 2; fix "
                                         "that line (a stray delimiter, or a value that needs quotes)")


def test_a_target_named_in_another_case_is_offered(tmp_path, capsys):
    path = tmp_path / "shop.csv"
    _rows().rename(columns={"sales": "Sales"}).to_csv(path, index=False)
    code, _, err = _run(capsys, "fit", path, "--target", "sales")
    assert code == 2 and err.strip() == ("descend: error: target column 'sales' is not in the data; did you mean "
                                         "'Sales'? columns: price, size, colour, Sales")
    code, _, err = _run(capsys, "fit", path, "--target", "Sales", "--drop", "colur")
    assert code == 2 and "--drop names column 'colur', which the data does not have; did you mean 'colour'?" in err


def test_r_write_csv_with_row_names_logicals_and_na_reads_as_r_meant(tmp_path):
    path = tmp_path / "from_r.csv"
    path.write_text('"","flag","grp","y"\n' + "".join(
        f'"{i}",{["TRUE", "FALSE", "NA"][i % 3]},{"NA" if i % 5 == 0 else "abc"[i % 3]},{i * 1.5}\n'
        for i in range(1, 41)))
    table, notes = _read(path)
    assert list(table.columns) == ["Unnamed: 0", "flag", "grp", "y"] and notes == []
    assert table["flag"].isna().sum() == 13 and table["grp"].isna().sum() == 8
    columns, left_out = infer_columns(table, "y")
    assert [(c.name, c.kind) for c in columns] == [("flag", "boolean"), ("grp", "categorical")]
    assert left_out[0].startswith("Unnamed: 0: whole numbers, a different one in each of the 40 rows")


def test_a_table_left_with_no_inputs_says_what_was_left_out():
    frame = pd.DataFrame({"ticket": range(44927, 44957), "y": range(30)})   # labels of the same five digits
    with pytest.raises(DescendError, match=r"no usable input columns besides the target 'y'; the data needs at least "
                                        r"one column that varies \(left out: ticket: whole numbers, a different one"):
        infer_columns(frame, "y")


def test_a_file_without_a_header_line_or_a_spreadsheet_is_told_what_to_do(tmp_path, capsys):
    path = tmp_path / "no_header.csv"
    _rows().to_csv(path, index=False, header=False)
    code, _, err = _run(capsys, "fit", path, "--target", "sales")
    first = ", ".join(str(v) for v in _rows().iloc[0])
    assert code == 2 and err.strip() == ("descend: error: target column 'sales' is not in the data; the first line "
                                         f"holds values, not column names ({first}...); add a header line")
    book = tmp_path / "sales.xlsx"
    book.write_bytes(b"PK\x03\x04")
    code, _, err = _run(capsys, "fit", book, "--target", "sales")
    assert code == 2 and err.strip() == (f"descend: error: {book}: a spreadsheet, not a CSV or Parquet file; save it "
                                         "as CSV (in Excel: File > Save As > CSV UTF-8) and give that file")


def test_excel_serial_dates_under_a_date_name_are_dates_and_other_big_numbers_stay_numbers():
    serials = pd.Series(np.arange(29613, 29653))   # 27/01/1981 on: Excel's days since 1899-12-30
    column = infer_column("Order Date", serials, 40)
    assert column.kind == "date" and "Excel serial day numbers: 29613 is 1981-01-27" in column.reason
    assert list(as_dates(serials[:3])) == [pd.Timestamp("1981-01-27"), pd.Timestamp("1981-01-28"),
                                           pd.Timestamp("1981-01-29")]
    assert infer_column("revenue", serials, 40).kind == "identifier"   # no date in the name: as before
    assert infer_column("date", pd.Series([5, 7, 9] * 14), 42).kind == "ordinal"   # not a 1950-2100 serial


def test_a_saved_model_reads_new_excel_serial_dates_and_tests_on_them_as_dates(tmp_path, capsys):
    frame = _rows(60).assign(day=np.arange(40000, 40060))
    frame.to_csv(tmp_path / "sales.csv", index=False)
    code, out, _ = _run(capsys, "fit", tmp_path / "sales.csv", "--target", "sales", "--out", tmp_path / "run", *QUICK)
    assert code == 0 and "day: date - dates (Excel serial day numbers: 40000 is 2009-07-06" in out
    tested = pd.read_csv(tmp_path / "run" / "test_predictions.csv")
    assert list(tested["time"][:2]) == ["2009-08-23", "2009-08-24"]   # serials 40048 and 40049
    code, out, _ = _run(capsys, "predict", tmp_path / "run", tmp_path / "sales.csv")
    assert code == 0 and len(out.splitlines()) == 61


def test_predictions_for_a_decimal_comma_file_are_written_as_it_was(tmp_path, capsys):
    frame = _rows(60)
    frame.to_csv(tmp_path / "plain.csv", index=False)
    frame.assign(shop=["Malmö", "Zürich"] * 30).to_csv(   # an extra column predict ignores
        tmp_path / "excel.csv", sep=";", decimal=",", index=False, encoding="cp1252")
    code, _, _ = _run(capsys, "fit", tmp_path / "plain.csv", "--target", "sales", "--out", tmp_path / "run", *QUICK)
    assert code == 0
    _run(capsys, "predict", tmp_path / "run", tmp_path / "plain.csv", "--out", tmp_path / "plain_predictions.csv")
    plain = pd.read_csv(tmp_path / "plain_predictions.csv")["prediction"]
    code, out, _ = _run(capsys, "predict", tmp_path / "run", tmp_path / "excel.csv")
    assert code == 0 and out.splitlines()[1] == f"{plain[0]:.8g}".replace(".", ",")   # 3,5 as the file wrote it
    _run(capsys, "predict", tmp_path / "run", tmp_path / "excel.csv", "--out", tmp_path / "excel_predictions.csv")
    written = pd.read_csv(tmp_path / "excel_predictions.csv", sep=";", decimal=",", encoding="cp1252")
    np.testing.assert_allclose(written["prediction"], plain, rtol=1e-6)


def test_a_letter_after_every_number_is_read_as_a_unit_and_the_line_says_so_even_as_a_plain_number():
    rooms = pd.Series([f"{n}A" for n in [100, 101, 200, 310, 205, 150, 250, 400]] * 6)
    frame = pd.DataFrame({"room": rooms, "y": np.arange(48.0)})
    columns, _ = infer_columns(frame, "y")   # 8 levels on 48 rows: too few rows for one-hot, a plain number
    assert columns[0].kind == "numeric" and columns[0].reason.endswith(
        "--categorical room for one-hot) (written with 'A', read as plain numbers; --categorical room if 'A' marks "
        "codes, not a unit)")
    mixed = infer_column("room", pd.Series(["100A", "100B", "200A"] * 10), 30)   # letters that differ: codes
    assert mixed.kind == "categorical"
    assert infer_column("weight", pd.Series(["12 kg", "5 kg", "7 kg"] * 10), 30).reason == (
        "integers with 3 values, used as a number and one-hot (--categorical weight or --numeric weight for one of "
        "them) (written with 'kg', read as plain numbers)")


def test_whole_numbers_grouped_by_points_in_a_semicolon_file_are_thousands_and_the_note_says_so(tmp_path):
    path = tmp_path / "towns.csv"
    path.write_bytes("Einwohner;Fläche\r\n8.412;12\r\n512;47\r\n23.162;95\r\n".encode("cp1252"))
    table, notes = _read(path)
    assert list(table["Einwohner"]) == [8412, 512, 23162]   # not 8.412 inhabitants
    assert notes[-1] == f"note: {path} has fields separated by ';' and points grouping thousands (1.234 is 1234)"


def test_dotted_dates_in_a_decimal_comma_file_stay_dates(tmp_path):
    path = tmp_path / "umsatz.csv"
    rows = [f"{d:02d}.01.2023;\"{1000 + d},50\";{d % 3}" for d in range(1, 31)]
    path.write_bytes(("Datum;Betrag;Menge\r\n" + "\r\n".join(rows) + "\r\n").encode("cp1252"))
    table, _ = _read(path)
    assert list(table["Datum"][:2]) == ["01.01.2023", "02.01.2023"]   # not the numbers 1012023, 2012023
    assert list(table["Betrag"][:2]) == [1001.5, 1002.5]
    column = infer_column("Datum", table["Datum"], 30)
    assert column.kind == "date" and column.dayfirst is True
    assert list(as_dates(table["Datum"][:2], True)) == [pd.Timestamp("2023-01-01"), pd.Timestamp("2023-01-02")]


def test_excels_separator_line_above_the_header_is_left_out_with_a_note(tmp_path):
    frame = _rows()
    lines = ["sep=;", "price;size;colour;sales"] + [
        f"{_decimal_comma(r.price)};{r.size};{r.colour};{_decimal_comma(r.sales)}" for r in frame.itertuples()]
    path = tmp_path / "excel.csv"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode())
    table, notes = _read(path)
    assert list(table.columns) == ["price", "size", "colour", "sales"] and len(table) == 40
    np.testing.assert_allclose(table["price"], frame.price)
    assert notes[:2] == [f"note: {path}: Excel's 'sep=;' line above the header left out",
                         f"note: {path} has fields separated by ';' and decimal commas (3,5)"]


@pytest.mark.parametrize("header", ["rownames", "row.names", "row_names", "RowName"])
def test_r_row_names_saved_under_a_name_are_left_out_as_an_identifier(tmp_path, header):
    rng = np.random.default_rng(0)
    order = rng.permutation(60) + 1   # R's row numbers after the rows were shuffled: unique, 1..60
    path = tmp_path / "rdatasets.csv"
    path.write_text(f'"{header}","size","y"\n' + "".join(f"{i},{rng.uniform(1, 9):.2f},{rng.normal():.3f}\n"
                                                         for i in order))
    table, _ = _read(path)
    columns, left_out = infer_columns(table, "y")
    assert [(c.name, c.kind) for c in columns] == [("size", "numeric")]
    assert left_out == [f"{header}: whole numbers, a different one in each of the 60 rows, look like an identifier: "
                        f"left out (--numeric {header} to keep it)"]


def test_a_counter_named_rows_or_names_alone_stays_a_number():
    frame = pd.DataFrame({"rows": np.arange(1, 41), "names": np.arange(41, 81), "y": np.arange(40) * 0.5})
    columns, left_out = infer_columns(frame, "y")
    assert [(c.name, c.kind) for c in columns] == [("rows", "numeric"), ("names", "numeric")] and left_out == []
