from zhiyuan.core.masking import mask_id_number, mask_name, mask_phone


def test_phone_mask() -> None:
    assert mask_phone("13812341234") == "138****1234"
    assert mask_phone("") == ""


def test_id_mask_matches_the_national_shape() -> None:
    assert mask_id_number("11010519491231002X") == "110105********002X"
    assert mask_id_number("E12345678") == "E1*****78"


def test_name_mask_keeps_the_family_name() -> None:
    assert mask_name("张三丰") == "张**"
